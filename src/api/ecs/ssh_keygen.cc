#include "api/ecs/ssh_keygen.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>
#include <vector>

namespace tg::api {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using Encoder = std::unique_ptr<OSSL_ENCODER_CTX, Deleter<OSSL_ENCODER_CTX, OSSL_ENCODER_CTX_free>>;

// SSH wire strings: a 32-bit big-endian length, then the bytes.
void PutString(std::vector<uint8_t>& out, const uint8_t* data, size_t size) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(size >> shift));
  out.insert(out.end(), data, data + size);
}
// An mpint: the big-endian magnitude, with a zero byte first when its top
// bit is set (it would read as negative).
void PutMpint(std::vector<uint8_t>& out, const BIGNUM* n) {
  std::vector<uint8_t> bytes(static_cast<size_t>(BN_num_bytes(n)) + 1, 0);
  BN_bn2bin(n, bytes.data() + 1);
  const bool pad = bytes.size() > 1 && (bytes[1] & 0x80);
  PutString(out, bytes.data() + (pad ? 0 : 1), bytes.size() - (pad ? 0 : 1));
}

std::string Base64(const std::vector<uint8_t>& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

Result<SshKeyPair> GenerateRsaKeyPair() {
  PKey key(EVP_RSA_gen(2048));
  if (!key) return Internal("RSA key generation failed");
  BIGNUM* e = nullptr;
  BIGNUM* n = nullptr;
  if (!EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) ||
      !EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n)) {
    BN_free(e);
    return Internal("reading the RSA key's numbers failed");
  }
  Bignum e_owner(e), n_owner(n);
  std::vector<uint8_t> blob;
  static constexpr std::string_view kType = "ssh-rsa";
  PutString(blob, reinterpret_cast<const uint8_t*>(kType.data()), kType.size());
  PutMpint(blob, e);
  PutMpint(blob, n);

  Encoder encoder(OSSL_ENCODER_CTX_new_for_pkey(key.get(), OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM",
                                                "type-specific", nullptr));
  Bio bio(BIO_new(BIO_s_mem()));
  if (!encoder || !bio || !OSSL_ENCODER_to_bio(encoder.get(), bio.get()))
    return Internal("encoding the RSA private key failed");
  char* pem = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &pem);
  if (size <= 0) return Internal("encoding the RSA private key gave nothing");
  return SshKeyPair{.public_key = std::string(kType) + " " + Base64(blob),
                    .private_pem = std::string(pem, static_cast<size_t>(size))};
}

}  // namespace tg::api
