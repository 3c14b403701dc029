#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

#include <curl/curl.h>

/* curl_easy_setopt and friends are variadic, which Swift cannot call: one typed wrapper per argument kind. */

static inline CURLcode ccurl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_write(CURL *h, CURLoption o, size_t (*f)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, o, f);
}
static inline CURLcode ccurl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ccurl_getinfo_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode ccurl_multi_setopt_pointer(CURLM *m, CURLMoption o, void *v) { return curl_multi_setopt(m, o, v); }

/* The socket-action API: curl says which sockets to watch and when to call it back. */
typedef int (*ccurl_socket_function)(CURL *easy, curl_socket_t s, int what, void *clientp, void *socketp);
typedef int (*ccurl_timer_function)(CURLM *multi, long timeout_ms, void *clientp);
static inline CURLMcode ccurl_multi_setopt_socket_function(CURLM *m, ccurl_socket_function f) {
    return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, f);
}
static inline CURLMcode ccurl_multi_setopt_timer_function(CURLM *m, ccurl_timer_function f) {
    return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, f);
}
static const curl_socket_t ccurl_socket_timeout = CURL_SOCKET_TIMEOUT;
typedef int (*ccurl_closesocket_function)(void *clientp, curl_socket_t s);
static inline CURLcode ccurl_setopt_closesocket(CURL *h, ccurl_closesocket_function f) { return curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, f); }

/* CURLMsg holds a union; Swift reads these fields through accessors. */
static inline CURL *ccurl_msg_handle(CURLMsg *m) { return m->easy_handle; }
static inline CURLcode ccurl_msg_result(CURLMsg *m) { return m->data.result; }
static inline int ccurl_msg_done(CURLMsg *m) { return m->msg == CURLMSG_DONE; }

#endif
