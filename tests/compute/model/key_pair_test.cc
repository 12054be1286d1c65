// SSH public keys: the fingerprint is the one `ssh-keygen -l -E md5` prints
// for the same key (computed once for these fixed keys), and anything that
// is not one well-formed key line is refused.
#include "compute/model/key_pair.h"

#include <gtest/gtest.h>

#include "compute/model/base64.h"
#include "support/test_util.h"

namespace tg::compute {
namespace {

constexpr std::string_view kEd25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ/yo2EQVPMCIuUcCDq/9UJHnATfMqYWgBJIntoxZ/9I "
    "test@tiangong";
constexpr std::string_view kEd25519Md5 = "2b:9c:84:13:68:65:c7:b5:98:08:be:47:58:37:5a:c8";
constexpr std::string_view kRsa =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDQ1SqBM1rQPZZfYFonWBbBXyKPWOTNPo5gaMmlCsJEYpxqHTyEUfPt27rRCEGqA3"
    "2"
    "ZUROFbFPqXdpv9UCzEiW8lSIHo9ZcvM4lP8z/nNHmBLmgYH4A0/JY+e4ZebE5Z5pkxrDnL3q3GZjaoEnhbVEwW982LCyzy"
    "Z+hPnOr7sSHAQ== rsa";
constexpr std::string_view kRsaMd5 = "d9:c4:c9:d7:35:6a:88:4e:a2:07:64:c4:4d:67:3a:aa";
constexpr std::string_view kEcdsa =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBC739STumOnHf1Iy0hcULIqdEg/n6/"
    "ZxThbOIL5bzhq"
    "ohCxkpPEqD2GvDodnhPPZiQesfp+rzu5p/EVtwaFH34s= ec";
constexpr std::string_view kEcdsaMd5 = "b6:ff:53:05:0e:57:a4:4b:0b:90:5f:28:f5:61:af:1b";

// An SSH wire blob of these strings.
std::string Blob(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    const uint32_t n = static_cast<uint32_t>(f.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
    out += f;
  }
  return out;
}

void ExpectRefused(std::string_view line) {
  Result<std::string> r = CheckPublicKey(line);
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << "accepted: " << line;
}

TEST(KeyPairTest, FingerprintsMatchSshKeygen) {
  EXPECT_EQ(CheckPublicKey(kEd25519).value_or(""), kEd25519Md5);
  EXPECT_EQ(CheckPublicKey(kRsa).value_or(""), kRsaMd5);
  EXPECT_EQ(CheckPublicKey(kEcdsa).value_or(""), kEcdsaMd5);
  // The comment is optional, and a file's trailing newline is no part of it.
  const std::string bare(kEd25519.substr(0, kEd25519.rfind(' ')));
  EXPECT_EQ(CheckPublicKey(bare).value_or(""), kEd25519Md5);
  EXPECT_EQ(CheckPublicKey(std::string(kEd25519) + "\n").value_or(""), kEd25519Md5);
}

TEST(KeyPairTest, CraftedKeysOfTheRightShapeAreAccepted) {
  const std::string ed = Blob({"ssh-ed25519", std::string(32, 'k')});
  EXPECT_OK(CheckPublicKey("ssh-ed25519 " + EncodeBase64(ed)).status());
}

TEST(KeyPairTest, RefusesWhatIsNotOneKey) {
  const std::string blob_ed = EncodeBase64(Blob({"ssh-ed25519", std::string(32, 'k')}));
  ExpectRefused("");
  ExpectRefused("ssh-ed25519");
  ExpectRefused("ssh-ed25519 ");
  ExpectRefused("ssh-dss " + EncodeBase64(Blob({"ssh-dss", "p", "q", "g", "y"})));
  ExpectRefused("ecdsa-sha2- " + EncodeBase64(Blob({"ecdsa-sha2-", "", "x"})));
  // The line names one type, the blob another.
  ExpectRefused("ssh-rsa " + blob_ed);
  // Not base64: bad characters, bad length, bits past the data, padding inside.
  ExpectRefused("ssh-ed25519 AAAA*AAA");
  ExpectRefused("ssh-ed25519 " + blob_ed.substr(0, blob_ed.size() - 1));
  ExpectRefused("ssh-ed25519 AAB=");
  ExpectRefused("ssh-ed25519 AA==AAAA");
  // A blob whose length prefix runs past its end, or with bytes after the key.
  const std::string ed = Blob({"ssh-ed25519", std::string(32, 'k')});
  ExpectRefused("ssh-ed25519 " + EncodeBase64(ed.substr(0, ed.size() - 1)));
  ExpectRefused("ssh-ed25519 " + EncodeBase64(ed + "x"));
  ExpectRefused("ssh-ed25519 " + EncodeBase64(Blob({"ssh-ed25519", std::string(31, 'k')})));
  ExpectRefused("ssh-ed25519 " + EncodeBase64(Blob({"ssh-ed25519"})));
  // ECDSA: the curve in the blob must be the one the type names.
  ExpectRefused("ecdsa-sha2-nistp384 " +
                EncodeBase64(Blob({"ecdsa-sha2-nistp384", "nistp256", "Q"})));
  ExpectRefused("ssh-rsa " + EncodeBase64(Blob({"ssh-rsa", "\x01"})));
  // Two lines, control characters, text that is not UTF-8, a huge line.
  ExpectRefused(std::string(kEd25519) + "\n" + std::string(kRsa));
  ExpectRefused("ssh-ed25519\t" + blob_ed);
  ExpectRefused("ssh-ed25519 " + blob_ed + " comment\xff");
  ExpectRefused("ssh-ed25519 " + blob_ed + " " + std::string(20000, 'c'));
}

}  // namespace
}  // namespace tg::compute
