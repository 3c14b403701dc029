#include "CSidecarTLS.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

// TLS 1.2's forward-secret AEAD suites (Mozilla's "intermediate" without DHE); TLS 1.3's are
// all forward-secret and left at OpenSSL's default.
static const char *const tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static const unsigned char session_context[] = "cluster-sidecar";

// The SANs a client certificate may carry, parsed once per context.
enum san_kind { SAN_DNS, SAN_IP, SAN_URI };
struct san {
    enum san_kind kind;
    size_t length;
    unsigned char bytes[256];
};
struct allowed_sans {
    int count;
    struct san entries[];
};

static int sans_index = -1;
static pthread_once_t sans_once = PTHREAD_ONCE_INIT;

static void free_sans(void *parent, void *ptr, CRYPTO_EX_DATA *data, int index, long argl, void *argp) {
    (void)parent, (void)data, (void)index, (void)argl, (void)argp;
    free(ptr);
}

static void make_sans_index(void) { sans_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_sans); }

static void say(char *reason, size_t size, const char *format, const char *path, const char *detail) {
    snprintf(reason, size, format, path, detail ? detail : "");
}

/// Why OpenSSL refused, from its error queue (the first, deepest reason), or `fallback`.
static const char *queued_reason(char *buffer, size_t size, const char *fallback) {
    unsigned long code = ERR_peek_error();
    if (code == 0) return fallback;
    const char *text = ERR_reason_error_string(code);
    snprintf(buffer, size, "%s", text ? text : fallback);
    return buffer;
}

static int readable(const char *path, char *reason, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        say(reason, size, "'%s' cannot be read: %s", path, strerror(errno));
        return 0;
    }
    fclose(f);
    return 1;
}

static int verify_sans(int ok, X509_STORE_CTX *store) {
    if (!ok || X509_STORE_CTX_get_error_depth(store) != 0) return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct allowed_sans *allowed = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sans_index) : NULL;
    if (!allowed) return 1;
    X509 *leaf = X509_STORE_CTX_get_current_cert(store);
    GENERAL_NAMES *names = leaf ? X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL) : NULL;
    int found = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        enum san_kind kind;
        const ASN1_STRING *value;
        if (name->type == GEN_DNS) {
            kind = SAN_DNS, value = name->d.dNSName;
        } else if (name->type == GEN_IPADD) {
            kind = SAN_IP, value = name->d.iPAddress;
        } else if (name->type == GEN_URI) {
            kind = SAN_URI, value = name->d.uniformResourceIdentifier;
        } else {
            continue;
        }
        const unsigned char *data = ASN1_STRING_get0_data(value);
        size_t length = (size_t)ASN1_STRING_length(value);
        for (int k = 0; k < allowed->count && !found; k++) {
            const struct san *want = &allowed->entries[k];
            if (want->kind != kind || want->length != length) continue;
            found = kind == SAN_DNS ? strncasecmp((const char *)data, (const char *)want->bytes, length) == 0
                                    : memcmp(data, want->bytes, length) == 0;
        }
    }
    GENERAL_NAMES_free(names);
    if (!found) X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return found;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl, (void)arg;
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, outlen, alpn_http11, sizeof alpn_http11, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;  // no http/1.1 offered: go on without ALPN, as nginx does
    }
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static struct allowed_sans *parse_sans(const char *const *sans, int count, char *reason, size_t size) {
    struct allowed_sans *allowed = calloc(1, sizeof *allowed + (size_t)count * sizeof(struct san));
    if (!allowed) return NULL;
    allowed->count = count;
    for (int k = 0; k < count; k++) {
        struct san *entry = &allowed->entries[k];
        const char *text = sans[k];
        size_t length = strlen(text);
        char bare[64] = {0};
        if (length >= 2 && text[0] == '[' && text[length - 1] == ']' && length - 2 < sizeof bare) {
            memcpy(bare, text + 1, length - 2);
        } else if (length < sizeof bare) {
            memcpy(bare, text, length);
        }
        if (inet_pton(AF_INET, bare, entry->bytes) == 1) {
            entry->kind = SAN_IP, entry->length = 4;
        } else if (inet_pton(AF_INET6, bare, entry->bytes) == 1) {
            entry->kind = SAN_IP, entry->length = 16;
        } else if (length == 0 || length > sizeof entry->bytes) {
            say(reason, size, "'%s' is not a DNS name, an IP address or a URI%s", text, NULL);
            free(allowed);
            return NULL;
        } else {
            entry->kind = strstr(text, "://") ? SAN_URI : SAN_DNS;
            entry->length = length;
            memcpy(entry->bytes, text, length);
        }
    }
    return allowed;
}

static SSL_CTX *fail(SSL_CTX *context, int *part, int which) {
    *part = which;
    SSL_CTX_free(context);
    return NULL;
}

static int base(SSL_CTX *context, int min_version) {
    // Key exchange on Mozilla's "intermediate" groups only (X448 and P-521 are left out).
    return SSL_CTX_set_min_proto_version(context, min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION) == 1 &&
           SSL_CTX_set_cipher_list(context, tls12_ciphers) == 1 &&
           SSL_CTX_set1_groups_list(context, "X25519:P-256:P-384") == 1;
}

/// Loads the chain and key, checking that they parse, match and have not expired.
static int load_identity(SSL_CTX *context, const char *cert_file, const char *key_file, int *part, char *reason,
                         size_t size) {
    char detail[256];
    if (!readable(cert_file, reason, size)) return *part = CSIDECAR_TLS_CERT, 0;
    if (SSL_CTX_use_certificate_chain_file(context, cert_file) != 1) {
        say(reason, size, "'%s' holds no usable PEM certificate (%s)", cert_file,
            queued_reason(detail, sizeof detail, "unreadable"));
        return *part = CSIDECAR_TLS_CERT, 0;
    }
    X509 *leaf = SSL_CTX_get0_certificate(context);
    if (leaf && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
        BIO *bio = BIO_new(BIO_s_mem());
        ASN1_TIME_print(bio, X509_get0_notAfter(leaf));
        int n = BIO_read(bio, detail, sizeof detail - 1);
        detail[n > 0 ? n : 0] = 0;
        BIO_free(bio);
        say(reason, size, "'%s' expired on %s", cert_file, detail);
        return *part = CSIDECAR_TLS_CERT, 0;
    }
    if (!readable(key_file, reason, size)) return *part = CSIDECAR_TLS_KEY, 0;
    if (SSL_CTX_use_PrivateKey_file(context, key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            say(reason, size, "'%s' does not match the certificate's public key%s", key_file, NULL);
        } else {
            say(reason, size, "'%s' holds no usable PEM private key (%s)", key_file,
                queued_reason(detail, sizeof detail, "unreadable"));
        }
        return *part = CSIDECAR_TLS_KEY, 0;
    }
    if (SSL_CTX_check_private_key(context) != 1) {
        say(reason, size, "'%s' does not match the certificate's public key%s", key_file, NULL);
        return *part = CSIDECAR_TLS_KEY, 0;
    }
    return 1;
}

static int load_cas(SSL_CTX *context, const char *file, char *reason, size_t size) {
    char detail[256];
    if (!readable(file, reason, size)) return 0;
    if (SSL_CTX_load_verify_locations(context, file, NULL) != 1) {
        say(reason, size, "'%s' holds no PEM certificate (%s)", file, queued_reason(detail, sizeof detail, "none found"));
        return 0;
    }
    return 1;
}

SSL_CTX *csidecar_tls_server_context(const char *cert_file, const char *key_file, const char *client_ca_file,
                                     const char *const *sans, int count, int min_version, int *part, char *reason,
                                     size_t reason_size) {
    ERR_clear_error();
    pthread_once(&sans_once, make_sans_index);
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (!context || !base(context, min_version)) return fail(context, part, CSIDECAR_TLS_OTHER);
    SSL_CTX_set_options(context, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                     SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(context, 1);
    SSL_CTX_set_session_id_context(context, session_context, sizeof session_context - 1);
    // Tickets resume most sessions; the cache of TLS 1.2 session ids stays small (20,480 by default).
    SSL_CTX_sess_set_cache_size(context, 1024);
    SSL_CTX_set_alpn_select_cb(context, select_alpn, NULL);
    if (!load_identity(context, cert_file, key_file, part, reason, reason_size)) return fail(context, part, *part);
    if (client_ca_file) {
        if (!load_cas(context, client_ca_file, reason, reason_size)) return fail(context, part, CSIDECAR_TLS_CLIENT_CA);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca_file);
        if (names) SSL_CTX_set_client_CA_list(context, names);
        if (count > 0) {
            struct allowed_sans *allowed = parse_sans(sans, count, reason, reason_size);
            if (!allowed) return fail(context, part, CSIDECAR_TLS_SANS);
            SSL_CTX_set_ex_data(context, sans_index, allowed);
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, count > 0 ? verify_sans : NULL);
    }
    return context;
}

SSL_CTX *csidecar_tls_client_context(const char *ca_file, const char *cert_file, const char *key_file, int min_version,
                                     int *part, char *reason, size_t reason_size) {
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context || !base(context, min_version)) return fail(context, part, CSIDECAR_TLS_OTHER);
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(context, 1);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_CLIENT);
    SSL_CTX_set_alpn_protos(context, alpn_http11, sizeof alpn_http11);
    if (ca_file) {
        if (!load_cas(context, ca_file, reason, reason_size)) return fail(context, part, CSIDECAR_TLS_CA);
    } else if (SSL_CTX_set_default_verify_paths(context) != 1) {
        snprintf(reason, reason_size, "the system's CA store cannot be read");
        return fail(context, part, CSIDECAR_TLS_CA);
    }
    if (cert_file && key_file && !load_identity(context, cert_file, key_file, part, reason, reason_size)) {
        return fail(context, part, *part);
    }
    return context;
}

void csidecar_tls_context_free(SSL_CTX *context) { SSL_CTX_free(context); }

SSL *csidecar_tls_accepting(SSL_CTX *context, int fd) {
    ERR_clear_error();
    SSL *ssl = SSL_new(context);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

SSL *csidecar_tls_connecting(SSL_CTX *context, int fd, const char *host) {
    ERR_clear_error();
    SSL *ssl = SSL_new(context);
    if (!ssl) return NULL;
    unsigned char address[16];
    int is_ip = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
    int ok = SSL_set_fd(ssl, fd) == 1 &&
             (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
                    : SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1);
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

void csidecar_tls_free(SSL *ssl) {
    // Freed without a close_notify sent, OpenSSL takes the connection for broken and marks its
    // session not resumable, in every copy held: the one a client keeps for its next
    // connection too. A fatal alert has removed a bad session already.
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
}

SSL_SESSION *csidecar_tls_resumable(SSL *ssl) {
    SSL_SESSION *session = SSL_get1_session(ssl);
    if (session && !SSL_SESSION_is_resumable(session)) {
        SSL_SESSION_free(session);
        return NULL;
    }
    return session;
}

int csidecar_tls_resume(SSL *ssl, SSL_SESSION *session) { return SSL_set_session(ssl, session); }

int csidecar_tls_resumed(const SSL *ssl) { return SSL_session_reused(ssl); }

void csidecar_tls_session_free(SSL_SESSION *session) { SSL_SESSION_free(session); }

static long outcome(SSL *ssl, int result) {
    switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_WANT_READ: return CSIDECAR_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return CSIDECAR_TLS_WANT_WRITE;
    default: return CSIDECAR_TLS_FAILED;
    }
}

long csidecar_tls_read(SSL *ssl, void *buf, size_t len) {
    ERR_clear_error();
    size_t total = 0;
    while (total < len) {
        size_t got = 0;
        int result = SSL_read_ex(ssl, (char *)buf + total, len - total, &got);
        if (result == 1) {
            total += got;
            // What OpenSSL read ahead is read out now: epoll only knows of the socket's bytes.
            if (!SSL_has_pending(ssl)) break;
            continue;
        }
        if (total > 0) break;  // the condition comes back at the next call
        return outcome(ssl, result);
    }
    return (long)total;
}

long csidecar_tls_write(SSL *ssl, const void *buf, size_t len) {
    ERR_clear_error();
    size_t written = 0;
    int result = SSL_write_ex(ssl, buf, len, &written);
    return result == 1 ? (long)written : outcome(ssl, result);
}

int csidecar_tls_handshake(SSL *ssl) {
    ERR_clear_error();
    int result = SSL_do_handshake(ssl);
    return result == 1 ? 1 : (int)outcome(ssl, result);
}

void csidecar_tls_shutdown(SSL *ssl) {
    ERR_clear_error();
    if (SSL_is_init_finished(ssl)) SSL_shutdown(ssl);
    ERR_clear_error();
}

int csidecar_tls_peer_verified(const SSL *ssl) {
    return SSL_get0_peer_certificate(ssl) != NULL && SSL_get_verify_result(ssl) == X509_V_OK;
}

void csidecar_tls_last_error(const SSL *ssl, char *reason, size_t reason_size) {
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    char detail[256];
    const char *queued = queued_reason(detail, sizeof detail, "handshake failed");
    if (verify != X509_V_OK) {
        snprintf(reason, reason_size, "%s: %s", queued, X509_verify_cert_error_string(verify));
    } else {
        snprintf(reason, reason_size, "%s", queued);
    }
}
