/*
 * jinja.h - static analysis of Jinja2 templates (chat templates in GGUF
 * metadata and tokenizer_config.json), by a lexer and parser of our own.
 * Templates are never rendered. See util/jinja.c for what is flagged.
 */
#ifndef MG_JINJA_H
#define MG_JINJA_H

#include "../internal.h"

/*
 * Analyses `tmpl` (text of a template; `offset` is where it starts in the
 * scanned input, reported with findings). Reports `exec_threat` (CRITICAL
 * class) for access to Python internals (dunder or private attributes via
 * dot, subscript, `attr` filter or built strings; known SSTI gadgets) and
 * `bad_threat` for templates that do not parse. `what` names the template
 * in messages ("tokenizer.chat_template"). Returns the number of findings.
 */
int mg_jinja_check(mg_scan *s, mg_str tmpl, uint64_t offset, const char *what, const char *exec_threat,
                   const char *bad_threat);

#endif
