// Trampolines for CLibSecret.h: each resolves its function in libsecret (or,
// through it, in GLib and GIO) on first call. They are hidden, so the
// libraries' own internal calls never come back through them.
#include "CLibSecret.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *handle;
static char failure[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    // The soname of the runtime package (libsecret-1-0), not the -dev symlink.
    handle = dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(failure, sizeof failure, "%s", why ? why : "libsecret-1.so.0 could not be loaded");
    }
}

int cpro_libsecret_load(void) {
    pthread_once(&once, load);
    return handle ? 0 : -1;
}

const char *cpro_libsecret_error(void) { return failure; }

static void *sym(const char *name) {
    if (cpro_libsecret_load() != 0) {
        fprintf(stderr, "cpro: %s called without libsecret loaded\n", name);
        abort();
    }
    void *p = dlsym(handle, name);
    if (!p) {
        fprintf(stderr, "cpro: libsecret lacks %s\n", name);
        abort();
    }
    return p;
}

#define RESOLVE(name)                                                   \
    static __typeof__(&name) fn;                                        \
    __typeof__(&name) f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);       \
    if (!f) {                                                           \
        f = (__typeof__(&name))sym(#name);                              \
        __atomic_store_n(&fn, f, __ATOMIC_RELEASE);                     \
    }

#define FORWARD(ret, name, params, args) \
    ret(name) params { RESOLVE(name) return f args; }
#define FORWARD_VOID(name, params, args) \
    void(name) params { RESOLVE(name) f args; }

FORWARD(GDBusConnection *, g_bus_get_sync, (GBusType t, GCancellable *c, GError **e), (t, c, e))
FORWARD_VOID(g_cancellable_cancel, (GCancellable *c), (c))
FORWARD(GCancellable *, g_cancellable_new, (void), ())
FORWARD(GVariant *, g_dbus_connection_call_sync,
        (GDBusConnection *conn, const gchar *bus, const gchar *path, const gchar *iface, const gchar *method,
         GVariant *params, const GVariantType *reply, GDBusCallFlags flags, gint timeout, GCancellable *c, GError **e),
        (conn, bus, path, iface, method, params, reply, flags, timeout, c, e))
FORWARD_VOID(g_error_free, (GError *e), (e))
FORWARD_VOID(g_free, (gpointer p), (p))
FORWARD(gboolean, g_hash_table_insert, (GHashTable *t, gpointer k, gpointer v), (t, k, v))
FORWARD(gpointer, g_hash_table_lookup, (GHashTable *t, gconstpointer k), (t, k))
FORWARD(GHashTable *, g_hash_table_new_full, (GHashFunc h, GEqualFunc eq, GDestroyNotify kd, GDestroyNotify vd), (h, eq, kd, vd))
FORWARD_VOID(g_hash_table_unref, (GHashTable *t), (t))
FORWARD(GList *, g_list_append, (GList *l, gpointer d), (l, d))
FORWARD_VOID(g_list_free, (GList *l), (l))
FORWARD_VOID(g_object_unref, (gpointer o), (o))
FORWARD(gboolean, g_str_equal, (gconstpointer a, gconstpointer b), (a, b))
FORWARD(guint, g_str_hash, (gconstpointer v), (v))
FORWARD(gchar *, g_strdup, (const gchar *s), (s))
FORWARD(gboolean, g_variant_get_boolean, (GVariant *v), (v))
FORWARD(GVariant *, g_variant_get_child_value, (GVariant *v, gsize i), (v, i))
FORWARD(const gchar *, g_variant_get_string, (GVariant *v, gsize *n), (v, n))
FORWARD(gsize, g_variant_n_children, (GVariant *v), (v))
FORWARD(GVariant *, g_variant_new_string, (const gchar *s), (s))
FORWARD(GVariant *, g_variant_new_tuple, (GVariant *const *c, gsize n), (c, n))
FORWARD_VOID(g_variant_unref, (GVariant *v), (v))

FORWARD(SecretCollection *, secret_collection_for_alias_sync,
        (SecretService *s, const gchar *alias, SecretCollectionFlags flags, GCancellable *c, GError **e), (s, alias, flags, c, e))
FORWARD(gboolean, secret_collection_get_locked, (SecretCollection *s), (s))
FORWARD(GQuark, secret_error_get_quark, (void), ())
FORWARD(gboolean, secret_item_delete_sync, (SecretItem *i, GCancellable *c, GError **e), (i, c, e))
FORWARD(GList *, secret_password_searchv_sync,
        (const SecretSchema *s, GHashTable *a, SecretSearchFlags flags, GCancellable *c, GError **e), (s, a, flags, c, e))
FORWARD(gboolean, secret_password_storev_sync,
        (const SecretSchema *s, GHashTable *a, const gchar *coll, const gchar *label, const gchar *pw, GCancellable *c, GError **e),
        (s, a, coll, label, pw, c, e))
FORWARD(GHashTable *, secret_retrievable_get_attributes, (SecretRetrievable *r), (r))
FORWARD(SecretValue *, secret_retrievable_retrieve_secret_sync, (SecretRetrievable *r, GCancellable *c, GError **e), (r, c, e))
FORWARD(SecretSchema *, secret_schema_newv, (const gchar *n, SecretSchemaFlags flags, GHashTable *t), (n, flags, t))
FORWARD(SecretService *, secret_service_get_sync, (SecretServiceFlags flags, GCancellable *c, GError **e), (flags, c, e))
FORWARD(gint, secret_service_unlock_sync, (SecretService *s, GList *o, GCancellable *c, GList **u, GError **e), (s, o, c, u, e))
FORWARD(const gchar *, secret_value_get, (SecretValue *v, gsize *n), (v, n))
FORWARD_VOID(secret_value_unref, (gpointer v), (v))
