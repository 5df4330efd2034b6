#include "tls_certs.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace distkit::test {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what);
}

Key new_key() {
  Key key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  check(key != nullptr, "EC key");
  return key;
}

struct Spec {
  const char* name;  // subject CN
  const char* alt_names = nullptr;
  bool ca = false;
  long valid_from = -3600, valid_until = 86400;  // seconds from now
  const char* usage = "serverAuth";
};

// A certificate for `key`, signed by `issuer` (itself if null).
Cert make_cert(const Spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  static long serial = 1;
  Cert cert(X509_new(), &X509_free);
  X509* x = cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.valid_from);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.valid_until);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(spec.name), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
  auto extend = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr && X509_add_ext(x, ext, -1) == 1, value);
    X509_EXTENSION_free(ext);
  };
  if (spec.ca) {
    extend(NID_basic_constraints, "critical,CA:TRUE");
    extend(NID_key_usage, "critical,keyCertSign,cRLSign");
    extend(NID_subject_key_identifier, "hash");
  } else {
    extend(NID_basic_constraints, "CA:FALSE");
    extend(NID_key_usage, "critical,digitalSignature");
    extend(NID_ext_key_usage, spec.usage);
    extend(NID_authority_key_identifier, "keyid");
    if (spec.alt_names) extend(NID_subject_alt_name, spec.alt_names);
  }
  check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "sign");
  return cert;
}

void write(const std::string& path, X509* cert) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  check(f && PEM_write_X509(f.get(), cert) == 1, path.c_str());
}

void write(const std::string& path, EVP_PKEY* key) {
  std::unique_ptr<FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  check(f && PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1, path.c_str());
}

}  // namespace

TlsFiles::TlsFiles(const std::string& dir) : ca(dir + "/ca.pem"), other_ca(dir + "/other-ca.pem") {
  auto ca_key = new_key();
  auto ca_cert = make_cert({.name = "distkit test CA", .ca = true}, ca_key.get(), nullptr, nullptr);
  write(ca, ca_cert.get());
  auto other_key = new_key();
  write(other_ca, make_cert({.name = "another CA", .ca = true}, other_key.get(), nullptr, nullptr).get());

  auto issue = [&](const char* file, const Spec& spec) {
    auto key = new_key();
    Pair pair{dir + "/" + file + ".pem", dir + "/" + file + ".key"};
    write(pair.cert, make_cert(spec, key.get(), ca_cert.get(), ca_key.get()).get());
    write(pair.key, key.get());
    return pair;
  };
  server = issue("server", {.name = "localhost", .alt_names = "IP:127.0.0.1,DNS:localhost"});
  wrong_name = issue("wrong-name", {.name = "other.example", .alt_names = "DNS:other.example"});
  expired = issue("expired", {.name = "localhost", .alt_names = "IP:127.0.0.1,DNS:localhost",
                              .valid_from = -2 * 86400, .valid_until = -86400});
  client = issue("client", {.name = "distkit test client", .usage = "clientAuth"});
  node = issue("node", {.name = "localhost", .alt_names = "IP:127.0.0.1,DNS:localhost", .usage = "serverAuth,clientAuth"});
}

}  // namespace distkit::test
