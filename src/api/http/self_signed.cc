#include "api/http/self_signed.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <string_view>

namespace tg::api {

namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

bool IsIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// Letters, digits, '-' and '.' in labels of 1..63, an optional leading "*.".
bool IsDnsName(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// Adds an extension written in OpenSSL's config syntax ("critical,CA:FALSE").
Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Internal("certificate: cannot add extension {}", OBJ_nid2sn(nid));
  }
  return Status::Ok();
}

Status AddAltNames(X509* cert, const std::vector<std::string>& names) {
  NamesPtr alt(sk_GENERAL_NAME_new_null());
  for (const std::string& name : names) {
    GENERAL_NAME* entry = nullptr;
    if (IsIpAddress(name)) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
      if (!ip) return InvalidArgument("certificate: bad IP address '{}'", name);
      entry = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(entry, GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      ASN1_STRING_set(dns, name.data(), static_cast<int>(name.size()));
      entry = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
    }
    sk_GENERAL_NAME_push(alt.get(), entry);
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, alt.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return Internal("certificate: cannot add the subject alternative names");
  }
  return Status::Ok();
}

Result<std::string> ToPem(const std::function<int(BIO*)>& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return Internal("certificate: cannot write PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// Writes `path` whole: a temporary file with `mode`, synced, renamed over it.
Status WriteFileWhole(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "open " + tmp);
  Status s;
  if (::fchmod(fd, mode) != 0) s = ErrnoStatus(errno, "chmod " + tmp);
  for (size_t done = 0; s.ok() && done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      s = ErrnoStatus(errno, "write " + tmp);
    else
      done += static_cast<size_t>(n);
  }
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus(errno, "fsync " + tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus(errno, "rename " + path);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace

Status WriteSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                  const std::vector<std::string>& names, int days) {
  if (cert_path.empty() || key_path.empty() || cert_path == key_path) {
    return InvalidArgument("certificate: need two distinct paths for the certificate and key");
  }
  if (days < 1 || days > 36500)
    return InvalidArgument("certificate: days {} not in 1..36500", days);
  if (names.empty() || names.size() > 100) {
    return InvalidArgument("certificate: need 1..100 names, got {}", names.size());
  }
  for (const std::string& name : names) {
    if (!IsIpAddress(name) && !IsDnsName(name)) {
      return InvalidArgument("certificate: '{}' is neither an IP address nor a DNS name", name);
    }
  }

  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Internal("certificate: cannot generate an EC P-256 key");
  CertPtr cert(X509_new());
  if (!cert) return Internal("certificate: out of memory");
  X509_set_version(cert.get(), X509_VERSION_3);

  // A random positive 127-bit serial, as RFC 5280 asks (unique per issuer).
  BignumPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return Internal("certificate: cannot make a serial number");
  }
  // Valid from an hour ago: clocks of clients differ a little.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr);
  X509_set_pubkey(cert.get(), key.get());

  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string& cn = names.front();
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Tiangong"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);

  TG_RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TG_RETURN_IF_ERROR(AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature"));
  TG_RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  TG_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  TG_RETURN_IF_ERROR(AddAltNames(cert.get(), names));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return Internal("certificate: cannot sign");
  }

  TG_ASSIGN_OR_RETURN(std::string key_pem, ToPem([&](BIO* bio) {
                        return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0,
                                                        nullptr, nullptr);
                      }));
  TG_ASSIGN_OR_RETURN(std::string cert_pem,
                      ToPem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); }));
  // The key first: a certificate on disk without its key is of no use.
  TG_RETURN_IF_ERROR(WriteFileWhole(key_path, key_pem, 0600));
  return WriteFileWhole(cert_path, cert_pem, 0644);
}

}  // namespace tg::api
