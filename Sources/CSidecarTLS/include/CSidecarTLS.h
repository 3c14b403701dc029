#ifndef CSIDECAR_TLS_H
#define CSIDECAR_TLS_H

// OpenSSL 3 (Debian's libssl) for the cluster listener and our own client: what Swift cannot
// call directly (macros, callbacks) and the few steps that are clearer in one C function.
// Every function clears OpenSSL's per-thread error queue before it works, so that a stale
// error never answers for a later call.

#include <stddef.h>
#include <openssl/ssl.h>

/// Which setting a context failed on (the caller names its variable).
enum csidecar_tls_part {
    CSIDECAR_TLS_CERT = 1,
    CSIDECAR_TLS_KEY = 2,
    CSIDECAR_TLS_CLIENT_CA = 3,
    CSIDECAR_TLS_CA = 4,
    CSIDECAR_TLS_SANS = 5,
    CSIDECAR_TLS_OTHER = 6,
};

/// A server context: the certificate chain and key (checked: parsable, matching, not expired),
/// TLS 1.2 (`min_version` 12) or 1.3 (13) and up, forward-secret AEAD suites only, server
/// preference, no renegotiation, ALPN http/1.1, tickets. With `client_ca`, client certificates
/// are asked for and verified against it (a client without one still completes the handshake:
/// the caller decides what it may do); with `sans` (`count` entries: DNS names, IP addresses,
/// or URIs with "://"), the leaf must also carry one of them. NULL on failure, with the part at
/// fault in `*part` and why in `reason`.
SSL_CTX *csidecar_tls_server_context(const char *cert_file, const char *key_file, const char *client_ca_file,
                                     const char *const *sans, int count, int min_version, int *part, char *reason,
                                     size_t reason_size);

/// A client context: verification against `ca_file` (NULL: the system's store), the client
/// certificate and key when given, TLS 1.2 or 1.3 and up.
SSL_CTX *csidecar_tls_client_context(const char *ca_file, const char *cert_file, const char *key_file, int min_version,
                                     int *part, char *reason, size_t reason_size);

void csidecar_tls_context_free(SSL_CTX *context);

/// A server side session on the accepted socket `fd`.
SSL *csidecar_tls_accepting(SSL_CTX *context, int fd);

/// A client side session on the connected socket `fd`, for `host` (SNI for a name; the
/// certificate is verified for the name or the IP address).
SSL *csidecar_tls_connecting(SSL_CTX *context, int fd, const char *host);

void csidecar_tls_free(SSL *ssl);

/// The session to resume a later connection with (a reference the caller frees), or NULL when
/// there is none to resume.
SSL_SESSION *csidecar_tls_resumable(SSL *ssl);

/// Offers `session` for resumption in the next handshake of `ssl` (1 when set).
int csidecar_tls_resume(SSL *ssl, SSL_SESSION *session);

/// 1 when the handshake resumed a session.
int csidecar_tls_resumed(const SSL *ssl);

void csidecar_tls_session_free(SSL_SESSION *session);

/// Results of the I/O calls below: bytes (>= 0, 0 at the peer's end), or one of these.
enum csidecar_tls_io {
    CSIDECAR_TLS_WANT_READ = -1,
    CSIDECAR_TLS_WANT_WRITE = -2,
    CSIDECAR_TLS_FAILED = -3,
};

/// Reads decrypted bytes until `len` are read or the socket has no more (the handshake, when
/// it is not done, runs first).
long csidecar_tls_read(SSL *ssl, void *buf, size_t len);

/// Writes up to `len` bytes (partial writes allowed; the unsent rest is offered again).
long csidecar_tls_write(SSL *ssl, const void *buf, size_t len);

/// Runs the handshake: 1 when done, or a `csidecar_tls_io` value.
int csidecar_tls_handshake(SSL *ssl);

/// Sends close_notify (once, without waiting for the peer's).
void csidecar_tls_shutdown(SSL *ssl);

/// 1 when the peer presented a certificate that verified.
int csidecar_tls_peer_verified(const SSL *ssl);

/// Why the last call on this thread failed ("certificate verify failed: unable to get local
/// issuer certificate"), into `reason`.
void csidecar_tls_last_error(const SSL *ssl, char *reason, size_t reason_size);

#endif
