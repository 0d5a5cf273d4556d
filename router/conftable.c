/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/conftable.c — config files read through a table of typed keys (see conftable.h) */
#include "router/conftable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

GQuark config_error_quark(void)
{
    return g_quark_from_static_string("tern-config-error-quark");
}

typedef struct {
    char *str;   /* CONF_STRING, CONF_ADDR */
    gint64 num;  /* CONF_INT, CONF_BOOL */
    char **list; /* CONF_LIST */
    char *path;  /* absolute form of str */
    gboolean set; /* a default or a value from the file was parsed */
} ConfValue;

/* One repeated section ([<repeat> NAME]): a value per repeat_keys entry. */
typedef struct {
    char *group; /* the section as written, for messages */
    char *name;  /* after "<repeat> " */
    ConfValue *values;
} ConfSection;

struct Config {
    const ConfSchema *schema;
    char *origin;
    char *base_dir;
    guint nkeys;
    ConfValue *values;
    GPtrArray *sections; /* ConfSection*, in file order */
    GPtrArray *names;    /* their names, NULL-terminated (borrowed strings) */
};

static guint count_keys(const ConfKey *keys)
{
    guint n = 0;
    while (keys && keys[n].key)
        n++;
    return n;
}

#define invalid(error, ...) g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, __VA_ARGS__)

/* Parse raw into v for key k of [group] (the name shown in messages). */
static gboolean parse_into(const char *origin, const char *group, const ConfKey *k, ConfValue *v,
                           const char *raw, GError **error)
{
    g_autofree char *val = g_strstrip(g_strdup(raw));
    if (!k->def && !*val) {
        invalid(error, "%s: [%s] %s: a value is required", origin, group, k->key);
        return FALSE;
    }
    switch (k->type) {
    case CONF_ADDR:
        if (*val) {
            const char *colon = strrchr(val, ':');
            char *end = NULL;
            long port = colon ? strtol(colon + 1, &end, 10) : -1;
            if (!colon || colon == val || !end || *end || port < 0 || port > 65535) {
                invalid(error, "%s: [%s] %s: '%s' is not an address (host:port, [v6]:port)",
                        origin, group, k->key, val);
                return FALSE;
            }
        }
        /* fall through */
    case CONF_STRING:
        g_free(v->str);
        v->str = g_steal_pointer(&val);
        break;
    case CONF_INT: {
        char *end = NULL;
        errno = 0;
        gint64 n = g_ascii_strtoll(val, &end, 10);
        if (!*val || *end || errno) {
            invalid(error, "%s: [%s] %s: '%s' is not a number", origin, group, k->key, val);
            return FALSE;
        }
        if (n < k->min || n > k->max) {
            invalid(error,
                    "%s: [%s] %s: %" G_GINT64_FORMAT " is out of range %" G_GINT64_FORMAT
                    "..%" G_GINT64_FORMAT,
                    origin, group, k->key, n, k->min, k->max);
            return FALSE;
        }
        v->num = n;
        break;
    }
    case CONF_BOOL:
        if (!g_ascii_strcasecmp(val, "true") || !g_ascii_strcasecmp(val, "yes") ||
            !strcmp(val, "1"))
            v->num = 1;
        else if (!g_ascii_strcasecmp(val, "false") || !g_ascii_strcasecmp(val, "no") ||
                 !strcmp(val, "0"))
            v->num = 0;
        else {
            invalid(error, "%s: [%s] %s: '%s' is not true or false", origin, group, k->key, val);
            return FALSE;
        }
        break;
    case CONF_LIST: {
        g_auto(GStrv) parts = g_strsplit(val, ";", -1);
        GPtrArray *out = g_ptr_array_new();
        for (guint j = 0; parts[j]; j++) {
            char *p = g_strstrip(parts[j]);
            if (*p)
                g_ptr_array_add(out, g_strdup(p));
        }
        g_ptr_array_add(out, NULL);
        g_strfreev(v->list);
        v->list = (char **)g_ptr_array_free(out, FALSE);
        break;
    }
    }
    v->set = TRUE;
    return TRUE;
}

/* Defaults of n keys into values; required keys stay unset (str NULL). */
static void set_defaults(const char *origin, const char *group, const ConfKey *keys, guint n,
                         ConfValue *values)
{
    for (guint i = 0; i < n; i++) {
        if (!keys[i].def)
            continue;
        gboolean ok = parse_into(origin, group ? group : keys[i].section, &keys[i], &values[i],
                                 keys[i].def, NULL);
        g_assert(ok); /* the table's own defaults must parse */
    }
}

static void values_free(ConfValue *values, guint n)
{
    for (guint i = 0; values && i < n; i++) {
        g_free(values[i].str);
        g_free(values[i].path);
        g_strfreev(values[i].list);
    }
    g_free(values);
}

static void resolve_paths(const char *base_dir, const ConfKey *keys, guint n, ConfValue *values)
{
    for (guint i = 0; i < n; i++) {
        ConfValue *v = &values[i];
        if (keys[i].type != CONF_STRING || !v->set)
            continue;
        g_free(v->path);
        if (!*v->str)
            v->path = g_strdup("");
        else if (g_path_is_absolute(v->str))
            v->path = g_strdup(v->str);
        else
            v->path = g_build_filename(base_dir, v->str, NULL);
    }
}

static Config *config_new(const ConfSchema *schema, const char *origin, const char *base_dir)
{
    Config *c = g_new0(Config, 1);
    c->schema = schema;
    c->origin = g_strdup(origin);
    c->base_dir = base_dir ? g_strdup(base_dir) : g_get_current_dir();
    while (schema->keys[c->nkeys].section)
        c->nkeys++;
    c->values = g_new0(ConfValue, c->nkeys);
    c->sections = g_ptr_array_new();
    c->names = g_ptr_array_new();
    g_ptr_array_add(c->names, NULL);
    set_defaults(origin, NULL, schema->keys, c->nkeys, c->values);
    return c;
}

static int key_find(const ConfKey *keys, const char *section, const char *key)
{
    for (int i = 0; keys[i].key; i++)
        if ((!section || !strcmp(keys[i].section, section)) && !strcmp(keys[i].key, key))
            return i;
    return -1;
}

static ConfSection *section_find(const Config *c, const char *name)
{
    for (guint i = 0; i < c->sections->len; i++) {
        ConfSection *sec = g_ptr_array_index(c->sections, i);
        if (!strcmp(sec->name, name))
            return sec;
    }
    return NULL;
}

/* A missing required key of keys (n of them, values parsed) in [group]: FALSE + error. */
static gboolean check_required(const Config *c, const char *group, const ConfKey *keys, guint n,
                               const ConfValue *values, GError **error)
{
    for (guint i = 0; i < n; i++)
        if (!values[i].set) {
            invalid(error, "%s: [%s] %s: a value is required", c->origin,
                    group ? group : keys[i].section, keys[i].key);
            return FALSE;
        }
    return TRUE;
}

/* Every key of [group] in kf, parsed into values through keys (section filter or NULL). */
static gboolean load_keys(const Config *c, GKeyFile *kf, const char *group, const char *section,
                          const ConfKey *keys, ConfValue *values, GError **error)
{
    g_auto(GStrv) names = g_key_file_get_keys(kf, group, NULL, NULL);
    for (guint k = 0; names && names[k]; k++) {
        int idx = key_find(keys, section, names[k]);
        if (idx < 0) {
            invalid(error, "%s: [%s] %s: unknown key", c->origin, group, names[k]);
            return FALSE;
        }
        g_autofree char *raw = g_key_file_get_value(kf, group, names[k], NULL);
        if (!parse_into(c->origin, group, &keys[idx], &values[idx], raw ? raw : "", error))
            return FALSE;
    }
    return TRUE;
}

/* [<repeat> NAME]: a section of repeat_keys, defaults first. */
static gboolean load_section(Config *c, GKeyFile *kf, const char *group, GError **error)
{
    const ConfSchema *s = c->schema;
    g_autofree char *name = g_strstrip(g_strdup(group + strlen(s->repeat)));
    if (!*name) {
        invalid(error, "%s: [%s]: a name is needed: [%s NAME]", c->origin, group, s->repeat);
        return FALSE;
    }
    if (section_find(c, name)) {
        invalid(error, "%s: [%s]: a second section of this name", c->origin, group);
        return FALSE;
    }
    guint n = count_keys(s->repeat_keys);
    ConfSection *sec = g_new0(ConfSection, 1);
    sec->group = g_strdup(group);
    sec->name = g_steal_pointer(&name);
    sec->values = g_new0(ConfValue, n);
    g_ptr_array_add(c->sections, sec);
    g_ptr_array_insert(c->names, c->names->len - 1, sec->name);
    set_defaults(c->origin, group, s->repeat_keys, n, sec->values);
    if (!load_keys(c, kf, group, NULL, s->repeat_keys, sec->values, error) ||
        !check_required(c, group, s->repeat_keys, n, sec->values, error))
        return FALSE;
    resolve_paths(c->base_dir, s->repeat_keys, n, sec->values);
    return TRUE;
}

static gboolean is_repeated(const ConfSchema *s, const char *group)
{
    gsize len = s->repeat ? strlen(s->repeat) : 0;
    return len && !strncmp(group, s->repeat, len) && (!group[len] || group[len] == ' ');
}

Config *config_parse(const ConfSchema *schema, const char *data, const char *origin,
                     const char *base_dir, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_data(kf, data, strlen(data), G_KEY_FILE_NONE, &err)) {
        invalid(error, "%s: %s", origin, err->message);
        return NULL;
    }
    g_autoptr(Config) c = config_new(schema, origin, base_dir);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (guint g = 0; groups[g]; g++) {
        if (is_repeated(schema, groups[g])) {
            if (!load_section(c, kf, groups[g], error))
                return NULL;
            continue;
        }
        gboolean known = FALSE;
        for (guint i = 0; i < c->nkeys && !known; i++)
            known = !strcmp(schema->keys[i].section, groups[g]);
        if (!known) {
            invalid(error, "%s: [%s]: unknown section", origin, groups[g]);
            return NULL;
        }
        if (!load_keys(c, kf, groups[g], groups[g], schema->keys, c->values, error))
            return NULL;
    }
    if (!check_required(c, NULL, schema->keys, c->nkeys, c->values, error))
        return NULL;
    resolve_paths(c->base_dir, schema->keys, c->nkeys, c->values);
    return g_steal_pointer(&c);
}

Config *config_parse_file(const ConfSchema *schema, const char *path, GError **error)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &data, NULL, &err)) {
        invalid(error, "%s: %s", path, err->message);
        return NULL;
    }
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *dir = g_path_get_dirname(abs);
    return config_parse(schema, data, path, dir, error);
}

Config *config_defaults(const ConfSchema *schema)
{
    Config *c = config_new(schema, "(defaults)", NULL);
    g_autoptr(GError) err = NULL;
    if (!check_required(c, NULL, schema->keys, c->nkeys, c->values, &err))
        g_error("config_defaults: %s", err->message); /* a programming error */
    resolve_paths(c->base_dir, schema->keys, c->nkeys, c->values);
    return c;
}

void config_free(Config *c)
{
    if (!c)
        return;
    values_free(c->values, c->nkeys);
    guint n = count_keys(c->schema->repeat_keys);
    for (guint i = 0; i < c->sections->len; i++) {
        ConfSection *sec = g_ptr_array_index(c->sections, i);
        values_free(sec->values, n);
        g_free(sec->group);
        g_free(sec->name);
        g_free(sec);
    }
    g_ptr_array_unref(c->sections);
    g_ptr_array_unref(c->names);
    g_free(c->origin);
    g_free(c->base_dir);
    g_free(c);
}

static const ConfValue *config_value(const Config *c, const char *section, const char *key,
                                     ConfType type)
{
    const ConfSchema *s = c->schema;
    const ConfKey *keys = s->keys;
    const ConfValue *values = c->values;
    const char *filter = section;
    if (s->repeat && is_repeated(s, section)) {
        const ConfSection *sec = section_find(c, section + strlen(s->repeat) + 1);
        if (!sec)
            g_error("config section [%s] is not in %s", section, c->origin);
        keys = s->repeat_keys;
        values = sec->values;
        filter = NULL;
    }
    int i = key_find(keys, filter, key);
    if (i < 0 || (keys[i].type != type && !(type == CONF_STRING && keys[i].type == CONF_ADDR)))
        g_error("config key [%s] %s is not in the table with this type", section, key);
    return &values[i];
}

const char *config_get_string(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_STRING)->str;
}

gint64 config_get_int(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_INT)->num;
}

gboolean config_get_bool(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_BOOL)->num != 0;
}

char *const *config_get_list(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_LIST)->list;
}

const char *config_get_path(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_STRING)->path;
}

const char *config_origin(const Config *c)
{
    return c->origin;
}

char *const *config_repeat_names(const Config *c)
{
    return (char *const *)c->names->pdata;
}

static const char *placeholder(const ConfSchema *s, const ConfKey *k)
{
    for (guint i = 0; s->placeholders && s->placeholders[i]; i += 2)
        if (!strcmp(s->placeholders[i], k->key))
            return s->placeholders[i + 1];
    return "change-me";
}

static void example_key(GString *out, const ConfSchema *s, const ConfKey *k)
{
    g_string_append_printf(out, "# %s", k->doc);
    if (k->type == CONF_INT)
        g_string_append_printf(out, " (%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT ")", k->min,
                               k->max);
    else if (k->type == CONF_LIST)
        g_string_append(out, " (separated by ;)");
    if (!k->def)
        g_string_append(out, " (required)");
    const char *value = k->def ? k->def : placeholder(s, k);
    g_string_append_printf(out, "\n%s%s =%s%s\n", s->commented ? "#" : "", k->key,
                           *value ? " " : "", value);
}

char *config_schema_example(const ConfSchema *s)
{
    GString *out = g_string_new(s->header);
    const char *section = NULL;
    for (const ConfKey *k = s->keys; k->section; k++) {
        if (!section || strcmp(section, k->section)) {
            section = k->section;
            g_string_append_printf(out, "\n[%s]\n", section);
        }
        example_key(out, s, k);
    }
    if (s->repeat) {
        g_string_append_printf(out, "\n%s\n%s[%s %s]\n", s->repeat_doc, s->commented ? "#" : "",
                               s->repeat, s->repeat_name);
        for (const ConfKey *k = s->repeat_keys; k->key; k++)
            example_key(out, s, k);
    }
    return g_string_free(out, FALSE);
}
