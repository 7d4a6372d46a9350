# The step runner of tools/gpu/run.sh (sourced, not run): finds the device and the libraries,
# runs each step under its own time limit, prints its one-line result as soon as it ends, keeps
# its full log, and prints the summary. run.sh holds the plans; this file knows nothing of them.
#
# A step's result is one of
#   pass                  the command exited 0 on a machine with a GPU
#   FAIL                  anything else on a machine with a GPU: a non-zero exit, a binary that
#                         says "no device" although the machine shows one, a missing
#                         compute-sanitizer or torch; also, on any machine, a binary that does
#                         not start or a test filter that matches no test
#   TIMEOUT               killed at its limit (the call's remaining budget when that is less)
#   not run (no device)   no GPU at all on this machine (no driver, none visible)
#   SKIPPED (budget)      the call's budget was spent before it could start

# --- the device and the environment -----------------------------------------------------------

# Sets device_present (yes|no) and device_text. The machine has a device when nvidia-smi lists a
# GPU, or when a /dev/nvidiaN node exists even though nvidia-smi fails (a broken driver is still
# a device: its steps fail with the error instead of reading as "not run").
# SIEVE_GPU_ASSUME=present|absent overrides the probe (tests of this script).
probe_device() {
  device_present=no
  device_text="no GPU: no nvidia-smi and no /dev/nvidia0"
  local nodes
  nodes=$(ls /dev/nvidia[0-9]* 2>/dev/null | tr '\n' ' ')
  if command -v nvidia-smi >/dev/null 2>&1; then
    local out rc
    out=$(timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version \
      --format=csv,noheader 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -n "$out" ]; then
      device_present=yes
      device_text=$(echo "$out" | paste -sd ';' -)
    elif [ -n "$nodes" ]; then
      device_present=yes
      device_text="nvidia-smi failed (rc $rc) with ${nodes% }: $(echo "$out" | head -1)"
    else
      device_text="no GPU: nvidia-smi: $(echo "$out" | head -1)"
    fi
  elif [ -n "$nodes" ]; then
    device_present=yes
    device_text="${nodes% } present, no nvidia-smi"
  fi
  case "${SIEVE_GPU_ASSUME:-}" in
    present) device_present=yes device_text="assumed present (SIEVE_GPU_ASSUME); probe: $device_text" ;;
    absent) device_present=no device_text="assumed absent (SIEVE_GPU_ASSUME); probe: $device_text" ;;
  esac
}

# Directories that may hold CUDA's libraries on a machine with only the toolkit, or with the
# libraries as pip packages beside PyTorch (site-packages/nvidia/*/lib).
cuda_library_dirs() {
  local d
  for d in "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 \
    /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$d" ] && echo "$d"
  done
  if command -v python3 >/dev/null 2>&1; then
    local site
    for site in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
      [ -d "$site/nvidia" ] && find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null
    done
  fi
}

# Puts the pack's libraries first on LD_LIBRARY_PATH, then, for every library a packed binary
# cannot find, the first directory above that has it. Sets library_text.
setup_libraries() {
  export LD_LIBRARY_PATH="$pack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local missing lib dir found=() still=()
  missing=$(for b in "$bin"/*; do ldd "$b" 2>/dev/null; done | awk '/not found/ {print $1}' | sort -u)
  for lib in $missing; do
    dir=""
    while read -r d; do
      if [ -e "$d/$lib" ]; then dir=$d; break; fi
    done < <(cuda_library_dirs)
    if [ -n "$dir" ]; then
      export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir"
      found+=("$lib from $dir")
    else
      still+=("$lib")
    fi
  done
  library_text="every library the binaries need resolves"
  [ ${#found[@]} -gt 0 ] && library_text="$library_text (added: ${found[*]})"
  [ ${#still[@]} -gt 0 ] && library_text="MISSING: ${still[*]} (steps that need them fail)"
}

# compute-sanitizer's path, or nothing: $SIEVE_GPU_SANITIZER when set, else the first found.
find_sanitizer() {
  if [ -n "${SIEVE_GPU_SANITIZER:-}" ]; then
    [ -x "$SIEVE_GPU_SANITIZER" ] && echo "$SIEVE_GPU_SANITIZER"
    return
  fi
  local c
  for c in "$(command -v compute-sanitizer 2>/dev/null)" \
    "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" /usr/local/cuda/bin/compute-sanitizer; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }
  done
}

# Empty when requirement $1 is met, else what is missing.
missing_requirement() {
  case "$1" in
    gpu) ;;
    sanitizer)
      [ -n "$(find_sanitizer)" ] ||
        echo "compute-sanitizer not found (${SIEVE_GPU_SANITIZER:-PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin})"
      ;;
    torch)
      local err
      if ! command -v python3 >/dev/null 2>&1; then
        echo "no python3"
      elif ! err=$(python3 -c 'import torch, transformers' 2>&1); then
        echo "python3 ($(command -v python3)) cannot import torch and transformers: $(echo "$err" | tail -1)"
      fi
      ;;
    *) echo "unknown requirement '$1' (a bug in run.sh)" ;;
  esac
}

# --- results ----------------------------------------------------------------------------------

results=() # "name|result|seconds|figure", in order
n_fail=0 n_skip=0 n_notrun=0 n_pass=0
step_index=0 step_count=0 plan_total=0 counting=no gtest_binary="" gtest_filter="" only=""

# The first lines that say what went wrong: gtest's first failure with its message, else the
# first line that looks like an error, else the last line.
error_excerpt() {
  local text line
  text=$(grep -v '^# ' "$1") # not the step's own header
  line=$(echo "$text" | grep -n -m1 -E ': Failure$' | cut -d: -f1)
  if [ -n "$line" ]; then
    echo "$text" | sed -n "${line},$((line + 3))p"
    return
  fi
  # Our programs' own verdict ("program: FAILED: why") before anything that merely looks bad.
  echo "$text" | grep -m2 -E ': FAILED: ' && return
  echo "$text" | grep -m3 -E 'Invalid|Race reported|hazard|FAILED|[Ee]rror|ERROR|Aborted|terminate called|what\(\)|Segmentation fault|core dumped|CHECK|not found|cannot|Cannot|Traceback|Killed' &&
    return
  echo "$text" | grep -v '^[[:space:]]*$' | tail -1
}

# One line of gtest counts: "41 passed", "2 of 41 failed (First.Test)", or, cut short, how many
# had finished.
figure_gtest() {
  local log=$1 passed failed first total
  passed=$(grep -c '^\[       OK \]' "$log")
  failed=$(grep -c '^\[  FAILED  \] [^0-9]' "$log")
  total=$(grep -m1 -E '^\[==========\] Running [0-9]+ test' "$log" | awk '{print $3}')
  if [ "$failed" -gt 0 ]; then
    # gtest repeats the list of failures at the end: count each test once.
    failed=$(grep '^\[  FAILED  \] [^0-9]' "$log" | awk '{print $4}' | sort -u | wc -l)
    first=$(grep -m1 '^\[  FAILED  \] [^0-9]' "$log" | awk '{print $4}')
    echo "$failed of ${total:-?} failed (first: $first), $passed passed"
  elif [ -n "$total" ]; then
    echo "$passed of $total passed"
  fi
}

figure_sanitizer() {
  local log=$1 s t
  s=$(grep -m1 -E '(ERROR|RACECHECK) SUMMARY' "$log" | sed 's/^=* *//')
  t=$(figure_gtest "$log")
  echo "${s:-no sanitizer summary}${t:+; tests: $t}"
}

# Whether step $1 runs in this call (--only NAME,NAME... picks some).
selected() {
  [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]
}

# Runs one step. step NAME LIMIT REQUIREMENT FIGURE_FUNCTION -- COMMAND...
# REQUIREMENT: gpu, sanitizer or torch (missing_requirement). FIGURE_FUNCTION (or "-") turns the
# log into the step's key figure. With counting=yes it only counts the step and adds its limit
# to plan_total; with counting=list it also prints it.
step() {
  local name=$1 limit=$2 need=$3 figure_fn=$4
  shift 5
  selected "$name" || return 0
  if [ "$counting" != no ]; then
    step_count=$((step_count + 1))
    plan_total=$((plan_total + limit))
    if [ "$counting" = list ]; then
      local cmd="$*"
      cmd=${cmd//$pack\/bin\//}
      cmd=${cmd//$pack/gpu-pack}
      cmd=${cmd//$root\//}
      printf '  %-28s %4ss  %s\n' "$name" "$limit" "$cmd"
    fi
    return 0
  fi
  step_index=$((step_index + 1))
  local log="$logdir/$name.log" t0=$SECONDS figure="" note="" rc missing
  : >"$log"
  local left=$((budget - (SECONDS - call_t0))) lim=$limit
  if [ "$left" -lt 5 ]; then
    finish_step "$name" "SKIPPED (budget)" 0 "the call's ${budget}s were spent" "$log"
    return 0
  fi
  if [ "$left" -lt "$limit" ]; then
    lim=$left
    note=" (cut from ${limit}s by the call's budget)"
  fi
  if [ -n "$gtest_binary" ]; then
    missing=$(check_gtest_filter "$gtest_binary" "$gtest_filter" "$log")
    gtest_binary=""
    if [ -n "$missing" ]; then
      finish_step "$name" FAIL 0 "$missing" "$log"
      return 0
    fi
  fi
  missing=$(missing_requirement "$need")
  if [ -n "$missing" ]; then
    echo "$missing" >>"$log"
    if [ "$device_present" = yes ]; then
      finish_step "$name" FAIL 0 "$missing" "$log"
    else
      finish_step "$name" "not run (no device)" 0 "also: $missing" "$log"
    fi
    return 0
  fi
  {
    echo "# step $name: limit ${lim}s; device: $device_text"
    echo "# $*"
  } >>"$log"
  (cd "$root" && exec timeout -k 5 "$lim" "$@") >>"$log" 2>&1
  rc=$?
  local secs=$((SECONDS - t0)) said
  [ "$figure_fn" != - ] && figure=$("$figure_fn" "$log" 2>/dev/null | head -1)
  # What the program said about the device (not the step's own header lines).
  said=$(grep -v '^# ' "$log" | grep -m1 -iE 'not run|no GPU|nothing measured|no CUDA|cannot be used')
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    finish_step "$name" TIMEOUT "$secs" \
      "killed at ${lim}s$note${figure:+; by then: $figure}" "$log" excerpt
  elif [ $rc -eq 77 ] && [ "$device_present" = no ]; then
    finish_step "$name" "not run (no device)" "$secs" "$said" "$log"
  elif [ $rc -eq 77 ]; then
    finish_step "$name" FAIL "$secs" "exit 77 ('no device') on a machine with a GPU: $said" "$log"
  elif [ $rc -eq 0 ] && [ "$device_present" = no ]; then
    finish_step "$name" FAIL "$secs" "exit 0 on a machine without a GPU: nothing can have run" \
      "$log"
  elif [ $rc -eq 0 ]; then
    finish_step "$name" pass "$secs" "$figure" "$log"
  else
    local how="rc $rc"
    [ $rc -gt 128 ] && how="killed by SIG$(kill -l $((rc - 128)) 2>/dev/null) (rc $rc)"
    finish_step "$name" FAIL "$secs" "$how${figure:+; $figure}" "$log" excerpt
  fi
}

# Empty when BINARY of the pack starts and FILTER selects at least one of its tests (listing
# needs no device), so a renamed test cannot silently drop out of a call; else why not.
check_gtest_filter() {
  local binary=$1 filter=$2 log=$3 listed rc
  listed=$("$bin/$binary" --gtest_list_tests --gtest_filter="$filter" 2>&1)
  rc=$?
  echo "$listed" >>"$log"
  if [ $rc -ne 0 ]; then
    echo "$binary does not start (rc $rc): $(echo "$listed" | head -1)"
  elif ! echo "$listed" | grep -q '^  '; then
    echo "--gtest_filter='$filter' selects no test of $binary"
  fi
}

# A gtest binary of the pack under a filter, optionally behind a prefix command (a sanitizer).
# gtest_step NAME LIMIT REQUIREMENT BINARY FILTER [PREFIX...]
gtest_step() {
  local name=$1 limit=$2 need=$3 binary=$4 filter=$5
  shift 5
  local figure=figure_gtest
  [ "$need" = sanitizer ] && figure=figure_sanitizer
  gtest_binary=$binary gtest_filter=$filter
  step "$name" "$limit" "$need" "$figure" -- "$@" "$bin/$binary" --gtest_filter="$filter"
  gtest_binary=""
}

# Records and prints a step's result. finish_step NAME RESULT SECONDS TEXT LOG [excerpt]
finish_step() {
  local name=$1 result=$2 secs=$3 text=$4 log=$5
  results+=("$name|$result|$secs|$text")
  case "$result" in
    pass) n_pass=$((n_pass + 1)) ;;
    "not run"*) n_notrun=$((n_notrun + 1)) ;;
    SKIPPED*) n_skip=$((n_skip + 1)) ;;
    *) n_fail=$((n_fail + 1)) ;;
  esac
  printf '== [%d/%d] %-28s %-20s %4ss  %s\n' "$step_index" "$step_count" "$name" "$result" \
    "$secs" "$text"
  if [ "${6:-}" = excerpt ]; then
    error_excerpt "$log" | head -4 | cut -c1-200 | sed 's/^/     > /'
  fi
  save_results
}

# $OUT/<call>-summary.txt and $OUT/<call>-logs.tar.gz, rewritten after every step, so that a
# call killed from outside still leaves what it had.
save_results() {
  summary_table >"$out/$call-summary.txt"
  tar -czf "$out/$call-logs.tar.gz" -C "$logdir" . 2>/dev/null
}

summary_table() {
  echo "=== sieve GPU call '$call': $n_pass pass, $n_fail failed or timed out, $n_notrun not run," \
    "$n_skip skipped; $((SECONDS - call_t0))s of ${budget}s"
  echo "device: $device_text"
  echo "libraries: $library_text"
  echo "pack: $pack_text"
  printf '%-28s %-20s %5s  %s\n' step result secs "figure / first error"
  local r
  for r in "${results[@]}"; do
    IFS='|' read -r name result secs text <<<"$r"
    printf '%-28s %-20s %5s  %s\n' "$name" "$result" "$secs" "$text"
  done
}
