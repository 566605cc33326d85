// The seed's C server, rebuilt as a benchmark peer: the routes of the
// seed tutorial's Mongoose + mbedTLS HTTPS server (`GET /` and
// `/generate-aes-key`), outside any enclave, one event loop on one thread
// as the tutorial runs it. Our code; Mongoose itself comes from
// MONGOOSE_DIR (bench/README.md, "Peers"), never from this repository.
//
//   seed CERT.pem KEY.pem PORT
//
// Prints "listening on https://127.0.0.1:PORT" once it serves.
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/platform_util.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "mongoose.h"

static struct mg_str cert, key;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void) sig;
  stop = 1;
}

static void handle(struct mg_connection *c, int ev, void *ev_data) {
  if (ev == MG_EV_ACCEPT) {
    struct mg_tls_opts opts = {.cert = cert, .key = key};
    mg_tls_init(c, &opts);
  } else if (ev == MG_EV_HTTP_MSG) {
    struct mg_http_message *hm = (struct mg_http_message *) ev_data;
    if (mg_match(hm->uri, mg_str("/"), NULL)) {
      mg_http_reply(c, 200, "Content-Type: application/json\r\n",
                    "{\"status\":\"ok\",\"server\":\"seed\"}\n");
    } else if (mg_match(hm->uri, mg_str("/generate-aes-key"), NULL)) {
      unsigned char k[32];
      char hex[2 * sizeof k + 1];
      if (mbedtls_ctr_drbg_random(&drbg, k, sizeof k) != 0) {
        mg_http_reply(c, 500, "", "{\"error\":\"random generator failed\"}\n");
        return;
      }
      for (size_t i = 0; i < sizeof k; i++) {
        hex[2 * i] = "0123456789abcdef"[k[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[k[i] & 15];
      }
      hex[2 * sizeof k] = '\0';
      mg_http_reply(c, 200, "Content-Type: application/json\r\n",
                    "{\"key\":\"%s\"}\n", hex);
      // The key was sent; neither copy stays in memory.
      mbedtls_platform_zeroize(k, sizeof k);
      mbedtls_platform_zeroize(hex, sizeof hex);
    } else {
      mg_http_reply(c, 404, "", "{\"error\":\"no such route\"}\n");
    }
  }
}

int main(int argc, char *argv[]) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s CERT.pem KEY.pem PORT\n", argv[0]);
    return 2;
  }
  cert = mg_file_read(&mg_fs_posix, argv[1]);
  key = mg_file_read(&mg_fs_posix, argv[2]);
  if (cert.buf == NULL || key.buf == NULL) {
    fprintf(stderr, "seed: cannot read %s or %s\n", argv[1], argv[2]);
    return 1;
  }
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                            (const unsigned char *) "seed", 4) != 0) {
    fprintf(stderr, "seed: cannot seed the random generator\n");
    return 1;
  }
  mg_log_set(MG_LL_ERROR);
  struct mg_mgr mgr;
  mg_mgr_init(&mgr);
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%s", argv[3]);
  if (mg_http_listen(&mgr, url, handle, NULL) == NULL) {
    fprintf(stderr, "seed: cannot listen on %s\n", url);
    return 1;
  }
  printf("listening on %s\n", url);
  fflush(stdout);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  while (!stop) mg_mgr_poll(&mgr, 100);
  mg_mgr_free(&mgr);
  return 0;
}
