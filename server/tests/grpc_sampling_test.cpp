// gRPC's SamplingParams reads through the engine's one schema by field name: every field of the
// message must be a request parameter, of a type the schema takes.
#include <gtest/gtest.h>

#include "engine/sampling_params.h"
#include "proto/sieve.pb.h"

namespace sieve {
namespace {

TEST(GrpcSampling, EveryProtoFieldIsARequestParameter) {
  using FD = google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* d = ::sieve::v1::SamplingParams::descriptor();
  ASSERT_GT(d->field_count(), 10);
  for (int i = 0; i < d->field_count(); ++i) {
    const FD* f = d->field(i);
    ASSERT_TRUE(is_request_param(f->name())) << "SamplingParams." << f->name();
    std::string type;
    for (const RequestParamInfo& p : request_param_fields()) {
      if (p.name == f->name()) type = std::string(p.type);
    }
    switch (f->cpp_type()) {
      case FD::CPPTYPE_FLOAT:
        EXPECT_EQ(type, "number") << f->name();
        break;
      case FD::CPPTYPE_BOOL:
        EXPECT_EQ(type, "boolean") << f->name();
        break;
      case FD::CPPTYPE_STRING:
        EXPECT_EQ(type, "string or strings") << f->name();
        break;
      default:  // integers
        EXPECT_EQ(type, f->is_repeated() ? "token ids" : "integer") << f->name();
    }
  }
  // priority travels on GenerateRequest itself.
  EXPECT_NE(::sieve::v1::GenerateRequest::descriptor()->FindFieldByName("priority"), nullptr);
  EXPECT_TRUE(is_request_param("priority"));
}

}  // namespace
}  // namespace sieve
