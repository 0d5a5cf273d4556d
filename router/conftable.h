/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/conftable.h — config files (GKeyFile syntax) read through a table of typed keys:
 * parsing with defaults and bounds, repeated named sections, getters and the generated
 * example. ternd (router/config.c) and every transport (transports/) share it. */
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
    const char *def; /* default as written in the file ("" = empty); NULL: required */
    gint64 min, max; /* CONF_INT bounds */
    const char *doc; /* one line */
} ConfKey;

/* What a file may hold. */
typedef struct {
    const char *header;       /* first lines of the example, each starting with "# " */
    const ConfKey *keys;      /* the fixed sections, ended by section NULL */
    const char *repeat;       /* sections "[<repeat> NAME]", any number; NULL: none */
    const ConfKey *repeat_keys; /* their keys (section unused), ended by key NULL */
    const char *repeat_doc;   /* the example's comment line for them ("# One section per ...") */
    const char *repeat_name;  /* NAME in the example's section */
    const char *const *placeholders; /* key, value pairs shown for required keys, NULL-ended */
    gboolean commented;       /* the example comments every key out (defaults apply) */
} ConfSchema;

typedef struct Config Config;

/* Parse data (GKeyFile syntax). Unknown sections and keys, bad values and missing
 * required keys are errors naming origin, [section] key and what is wrong. Relative paths
 * (config_get_path) are taken against base_dir (NULL: the current folder). transfer full */
Config *config_parse(const ConfSchema *schema, const char *data, const char *origin,
                     const char *base_dir, GError **error);
/* The same from the file at path; relative paths against its folder. transfer full */
Config *config_parse_file(const ConfSchema *schema, const char *path, GError **error);
/* Every default (the schema must have no required fixed key). transfer full */
Config *config_defaults(const ConfSchema *schema);
void config_free(Config *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

/* Typed getters; section/key must be in the schema (a programming error otherwise). A
 * repeated section is named "<repeat> NAME", e.g. "component irc.example.org". */
const char *config_get_string(const Config *c, const char *section, const char *key);
gint64 config_get_int(const Config *c, const char *section, const char *key);
gboolean config_get_bool(const Config *c, const char *section, const char *key);
/* NULL-terminated list (borrowed). */
char *const *config_get_list(const Config *c, const char *section, const char *key);
/* A string key made absolute against the config's base folder. borrowed */
const char *config_get_path(const Config *c, const char *section, const char *key);
const char *config_origin(const Config *c); /* file name or "(defaults)" */
/* The NAMEs of the repeated sections as written, in file order (NULL-terminated,
 * borrowed). */
char *const *config_repeat_names(const Config *c);

/* The documented example file generated from the schema. transfer full */
char *config_schema_example(const ConfSchema *schema);
