/*
 * A QEMU TCG plugin that counts the guest instructions each translation block runs, for
 * scripts/profile/guest-profile (see there). QEMU 7.2's plugin API, version 1, declared here
 * rather than taken from qemu-plugin.h, which Debian does not package.
 *
 * Build: gcc -shared -fPIC -O2 -o tcg_hot.so tcg_hot.c
 * SIGUSR1 zeroes the counts (the runner sends it when the transfer starts); at exit (QEMU
 * ends on SIGTERM) one line per block that ran goes to $HOT_OUT: address, instructions in the
 * block, times run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <signal.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
struct ent { uint64_t vaddr, n, count; };
#define MAXE 4000000
static struct ent *ents; static size_t nents;
static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  if (nents >= MAXE) return;
  struct ent *e = &ents[nents++];
  e->vaddr = qemu_plugin_tb_vaddr(tb); e->n = qemu_plugin_tb_n_insns(tb); e->count = 0;
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &e->count, 1);
}
static void atexit_cb(qemu_plugin_id_t id, void *p) {
  const char *path = getenv("HOT_OUT"); FILE *f = fopen(path ? path : "/tmp/plug/hot.txt", "w");
  for (size_t i = 0; i < nents; i++) if (ents[i].count) fprintf(f, "%llx %llu %llu\n", (unsigned long long)ents[i].vaddr, (unsigned long long)ents[i].n, (unsigned long long)ents[i].count);
  fclose(f);
}
static void reset(int sig) { for (size_t i = 0; i < nents; i++) ents[i].count = 0; }
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  ents = calloc(MAXE, sizeof *ents);
  signal(SIGUSR1, reset);
  qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
  qemu_plugin_register_atexit_cb(id, atexit_cb, NULL);
  return 0;
}
