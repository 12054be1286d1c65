// Base64: RFC 4648's vectors, round trips of every length, and strictness.
#include "compute/model/base64.h"

#include <gtest/gtest.h>

namespace tg::compute {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors{{"", ""},
                                                                 {"f", "Zg=="},
                                                                 {"fo", "Zm8="},
                                                                 {"foo", "Zm9v"},
                                                                 {"foob", "Zm9vYg=="},
                                                                 {"fooba", "Zm9vYmE="},
                                                                 {"foobar", "Zm9vYmFy"}};
  for (const auto& [data, text] : vectors) {
    EXPECT_EQ(EncodeBase64(data), text);
    EXPECT_EQ(DecodeBase64(text), data) << text;
  }
}

TEST(Base64Test, EveryByteAndLengthRoundTrips) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(DecodeBase64(EncodeBase64(data)), data) << data.size();
    data.push_back(static_cast<char>(i * 37));
  }
}

TEST(Base64Test, RefusesLooseText) {
  for (std::string_view bad : {"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v\n", " Zm9v", "Zm9-",
                               "Zh==", "Zm9=", "Zg==Zm9v", "Z=g="}) {
    EXPECT_FALSE(DecodeBase64(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace tg::compute
