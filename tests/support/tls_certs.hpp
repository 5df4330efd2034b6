#pragma once
// Certificates for TLS tests, made with OpenSSL into a directory: a CA that
// signed the servers' and the client's certificates, and one that signed
// nothing the tests' servers use.

#include <string>

namespace distkit::test {

struct TlsFiles {
  struct Pair {
    std::string cert, key;  // PEM files
  };

  explicit TlsFiles(const std::string& dir);

  std::string ca, other_ca;  // CA certificates
  Pair server;      // for 127.0.0.1 and localhost
  Pair wrong_name;  // for other.example only
  Pair expired;     // for 127.0.0.1, expired yesterday
  Pair client;      // a client certificate the CA signed
  Pair node;        // for 127.0.0.1, as server and as client (a cluster node, whose bus links are TLS clients)
};

}  // namespace distkit::test
