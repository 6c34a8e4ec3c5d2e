// The part of libsecret and GLib that SecretServiceStore uses, declared here
// and loaded with dlopen on first use (loader.c): a cpro command that does not
// touch the Secret Service never maps GLib, GIO, libsecret and their ten
// dependencies, which cost about 3 ms at every start.
//
// The declarations must match the libraries' own. scripts/test checks them:
// it compiles this header after <libsecret/secret.h> with
// CPRO_CHECK_AGAINST_REAL_HEADERS defined, so a prototype that differs from the
// real one is a compile error.
#ifndef CPRO_CLIBSECRET_H
#define CPRO_CLIBSECRET_H

#include <stddef.h>
#include <stdint.h>

#ifndef CPRO_CHECK_AGAINST_REAL_HEADERS
typedef char gchar;
typedef int gint;
typedef int gboolean;
typedef unsigned int guint;
typedef uint32_t GQuark;
typedef size_t gsize;
typedef void *gpointer;
typedef const void *gconstpointer;
typedef guint (*GHashFunc)(gconstpointer key);
typedef gboolean (*GEqualFunc)(gconstpointer a, gconstpointer b);
typedef void (*GDestroyNotify)(gpointer data);

typedef struct _GError { GQuark domain; gint code; gchar *message; } GError;
typedef struct _GList GList;
struct _GList { gpointer data; GList *next; GList *prev; };
typedef struct _GHashTable GHashTable;
typedef struct _GVariant GVariant;
typedef struct _GVariantType GVariantType;
typedef struct _GCancellable GCancellable;
typedef struct _GDBusConnection GDBusConnection;
typedef struct _SecretService SecretService;
typedef struct _SecretCollection SecretCollection;
typedef struct _SecretItem SecretItem;
typedef struct _SecretRetrievable SecretRetrievable;
typedef struct _SecretValue SecretValue;
// Never allocated nor read here: only passed back to libsecret.
typedef struct _CproSecretSchema SecretSchema;

typedef enum { G_BUS_TYPE_SESSION = 2 } GBusType;
typedef enum { G_DBUS_CALL_FLAGS_NONE = 0 } GDBusCallFlags;
typedef enum { SECRET_SCHEMA_NONE = 0, SECRET_SCHEMA_DONT_MATCH_NAME = 1 << 1 } SecretSchemaFlags;
typedef enum { SECRET_SERVICE_NONE = 0 } SecretServiceFlags;
typedef enum { SECRET_COLLECTION_NONE = 0 } SecretCollectionFlags;
typedef enum { SECRET_SEARCH_NONE = 0, SECRET_SEARCH_ALL = 1 << 1, SECRET_SEARCH_LOAD_SECRETS = 1 << 3 } SecretSearchFlags;
typedef enum { SECRET_ERROR_NO_SUCH_OBJECT = 3 } SecretError;
#define SECRET_COLLECTION_DEFAULT "default"
#endif

#pragma GCC visibility push(hidden)

/// Loads libsecret (and through it GLib and GIO) once. 0 on success; else -1
/// and `cpro_libsecret_error()` says why. Call it before anything below.
int cpro_libsecret_load(void);
const char *cpro_libsecret_error(void);

GDBusConnection *g_bus_get_sync(GBusType bus_type, GCancellable *cancellable, GError **error);
void g_cancellable_cancel(GCancellable *cancellable);
GCancellable *g_cancellable_new(void);
GVariant *g_dbus_connection_call_sync(GDBusConnection *connection, const gchar *bus_name, const gchar *object_path,
                                      const gchar *interface_name, const gchar *method_name, GVariant *parameters,
                                      const GVariantType *reply_type, GDBusCallFlags flags, gint timeout_msec,
                                      GCancellable *cancellable, GError **error);
void g_error_free(GError *error);
void g_free(gpointer mem);
gboolean g_hash_table_insert(GHashTable *hash_table, gpointer key, gpointer value);
gpointer g_hash_table_lookup(GHashTable *hash_table, gconstpointer key);
GHashTable *g_hash_table_new_full(GHashFunc hash_func, GEqualFunc key_equal_func, GDestroyNotify key_destroy_func,
                                  GDestroyNotify value_destroy_func);
void g_hash_table_unref(GHashTable *hash_table);
GList *g_list_append(GList *list, gpointer data);
void g_list_free(GList *list);
void g_object_unref(gpointer object);
gboolean (g_str_equal)(gconstpointer v1, gconstpointer v2);  // also a macro in GLib
guint g_str_hash(gconstpointer v);
gchar *g_strdup(const gchar *str);
gboolean g_variant_get_boolean(GVariant *value);
GVariant *g_variant_get_child_value(GVariant *value, gsize index_);
const gchar *g_variant_get_string(GVariant *value, gsize *length);
gsize g_variant_n_children(GVariant *value);
GVariant *g_variant_new_string(const gchar *string);
GVariant *g_variant_new_tuple(GVariant *const *children, gsize n_children);
void g_variant_unref(GVariant *value);

SecretCollection *secret_collection_for_alias_sync(SecretService *service, const gchar *alias, SecretCollectionFlags flags,
                                                   GCancellable *cancellable, GError **error);
gboolean secret_collection_get_locked(SecretCollection *self);
GQuark secret_error_get_quark(void);
gboolean secret_item_delete_sync(SecretItem *self, GCancellable *cancellable, GError **error);
GList *secret_password_searchv_sync(const SecretSchema *schema, GHashTable *attributes, SecretSearchFlags flags,
                                    GCancellable *cancellable, GError **error);
gboolean secret_password_storev_sync(const SecretSchema *schema, GHashTable *attributes, const gchar *collection,
                                     const gchar *label, const gchar *password, GCancellable *cancellable, GError **error);
GHashTable *secret_retrievable_get_attributes(SecretRetrievable *self);
SecretValue *secret_retrievable_retrieve_secret_sync(SecretRetrievable *self, GCancellable *cancellable, GError **error);
SecretSchema *secret_schema_newv(const gchar *name, SecretSchemaFlags flags, GHashTable *attribute_names_and_types);
SecretService *secret_service_get_sync(SecretServiceFlags flags, GCancellable *cancellable, GError **error);
gint secret_service_unlock_sync(SecretService *service, GList *objects, GCancellable *cancellable, GList **unlocked,
                                GError **error);
const gchar *secret_value_get(SecretValue *value, gsize *length);
void secret_value_unref(gpointer value);

#pragma GCC visibility pop

#endif
