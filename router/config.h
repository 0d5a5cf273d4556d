/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/config.h — the one config key table: parsing, checks, the generated example */
#pragma once

#include <glib.h>

#include "router/conftable.h"

/* The table, terminated by an entry with section NULL. */
extern const ConfKey config_keys[];
/* The keys of every "[component <domain>]" section (XEP-0114), terminated by key NULL.
 * Read them with the getters of router/conftable.h and section "component <domain>". */
extern const ConfKey config_component_keys[];

/* Load path (NULL = every default). Relative paths in the file are taken relative to the
 * folder of the file; with no file, relative to the current folder. Errors name file,
 * [section] key and what is wrong (CONFIG_ERROR_INVALID). Read it with the getters of
 * router/conftable.h. transfer full */
Config *config_load(const char *path, GError **error);
/* Parse from a string (tests); origin is the name used in messages. */
Config *config_load_data(const char *data, const char *origin, const char *base_dir,
                         GError **error);
/* The domains of the [component <domain>] sections as written, in file order
 * (NULL-terminated, borrowed). */
char *const *config_component_domains(const Config *c);

/* The documented example file generated from the table (docs/ternd.conf.example). */
char *config_example(void);
