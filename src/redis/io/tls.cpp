#include "tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

#include "distkit/error.hpp"

namespace distkit::redis::detail {

std::shared_ptr<asio::ssl::context> make_tls_context(const TlsOptions& tls) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  auto use = [&](std::string_view what, auto load) {
    std::error_code ec;
    load(ec);
    if (ec) throw Error(errc::invalid_argument, fmt::format("TlsOptions: {}: {}", what, ec.message()));
  };
  if (tls.ca_file.empty())
    use("the system's CA certificates", [&](auto& ec) { context->set_default_verify_paths(ec); });
  else
    use(fmt::format("ca_file {}", tls.ca_file), [&](auto& ec) { context->load_verify_file(tls.ca_file, ec); });
  if (!tls.cert_file.empty()) {
    use(fmt::format("cert_file {}", tls.cert_file),
        [&](auto& ec) { context->use_certificate_chain_file(tls.cert_file, ec); });
    use(fmt::format("key_file {}", tls.key_file),
        [&](auto& ec) { context->use_private_key_file(tls.key_file, asio::ssl::context::pem, ec); });
  }
  context->set_verify_mode(tls.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return context;
}

void prepare_tls(TlsSocket& socket, const TlsOptions& tls, const std::string& host) {
  const std::string& name = tls.server_name.empty() ? host : tls.server_name;
  SSL* ssl = socket.native_handle();
  std::error_code not_ip;
  asio::ip::make_address(name, not_ip);
  // Fails closed: a name OpenSSL cannot take (an IPv6 zone, say) would
  // otherwise leave the certificate's name unchecked.
  const bool checked = not_ip ? SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 && SSL_set1_host(ssl, name.c_str()) == 1
                              : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  if (!checked && tls.verify_peer)
    throw Error(errc::connection_failed, fmt::format("TLS: cannot check the server's name against {}", name));
}

std::string tls_failure(TlsSocket& socket, const std::error_code& ec) {
  const long verdict = SSL_get_verify_result(socket.native_handle());
  if (verdict != X509_V_OK) return fmt::format("TLS: {}", X509_verify_cert_error_string(verdict));
  return fmt::format("TLS: {}", ec.message());
}

}  // namespace distkit::redis::detail
