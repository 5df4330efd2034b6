#pragma once
// TLS through asio::ssl (OpenSSL): one context per connection, built from
// TlsOptions; each link sends SNI and checks the server's name.

#include <memory>
#include <string>
#include <system_error>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include "distkit/redis/options.hpp"

namespace distkit::redis::detail {

using TlsSocket = asio::ssl::stream<asio::ip::tcp::socket>;

// Throws Error(invalid_argument) if a file cannot be read or used.
std::shared_ptr<asio::ssl::context> make_tls_context(const TlsOptions& tls);

// Before the handshake: the name to send as SNI and to find in the
// certificate (server_name, else `host`). Throws Error(connection_failed) if
// OpenSSL cannot take it.
void prepare_tls(TlsSocket& socket, const TlsOptions& tls, const std::string& host);

// Why a TLS handshake or read failed, in OpenSSL's words: for a rejected
// certificate, the check that failed ("certificate has expired", "hostname
// mismatch", ...).
std::string tls_failure(TlsSocket& socket, const std::error_code& ec);

}  // namespace distkit::redis::detail
