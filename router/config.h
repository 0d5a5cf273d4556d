/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/config.h — the one config key table: parsing, checks, the generated example */
#pragma once

#include <glib.h>

#define CONFIG_ERROR (config_error_quark())
GQuark config_error_quark(void);
typedef enum { CONFIG_ERROR_INVALID } ConfigError;

typedef enum { CONF_STRING, CONF_INT, CONF_BOOL, CONF_LIST, CONF_ADDR } ConfType;

typedef struct {
    const char *section;
    const char *key;
    ConfType type;
    const char *def; /* default as written in the file ("" = empty) */
    gint64 min, max; /* CONF_INT bounds */
    const char *doc; /* one line */
} ConfKey;

/* The table, terminated by an entry with section NULL. */
extern const ConfKey config_keys[];
/* The keys of every "[component <domain>]" section (XEP-0114), terminated by key NULL.
 * Read them with the getters below and section "component <domain>". */
extern const ConfKey config_component_keys[];

typedef struct Config Config;
/* Load path (NULL = every default). Relative paths in the file are taken relative to the
 * folder of the file; with no file, relative to the current folder. Errors name file,
 * [section] key and what is wrong (CONFIG_ERROR_INVALID). transfer full */
Config *config_load(const char *path, GError **error);
/* Parse from a string (tests); origin is the name used in messages. */
Config *config_load_data(const char *data, const char *origin, const char *base_dir,
                         GError **error);
void config_free(Config *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

/* Typed getters; section/key must be in the table (a programming error otherwise). */
const char *config_get_string(const Config *c, const char *section, const char *key);
gint64 config_get_int(const Config *c, const char *section, const char *key);
gboolean config_get_bool(const Config *c, const char *section, const char *key);
/* NULL-terminated list (borrowed). */
char *const *config_get_list(const Config *c, const char *section, const char *key);
/* A path key made absolute against the config's base folder. borrowed */
const char *config_get_path(const Config *c, const char *section, const char *key);
const char *config_origin(const Config *c); /* file name or "(defaults)" */
/* The domains of the [component <domain>] sections as written, in file order
 * (NULL-terminated, borrowed). */
char *const *config_component_domains(const Config *c);

/* The documented example file generated from the table (docs/ternd.conf.example). */
char *config_example(void);
