/*
 * cmd_threats.c - `modelgate threats`: the threat catalog, one id a line.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void help_threats(FILE *out)
{
    fprintf(out, "usage: modelgate threats\n\n"
                 "Lists every threat id the scanner can report, with its severity and title.\n"
                 "Each id is documented in docs/threats/ID.md.\n");
}

int cmd_threats(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        help_threats(stdout);
        return 0;
    }
    for (size_t i = 0; i < mg_threat_count(); i++) {
        const mg_threat *t = mg_threat_at(i);
        printf("%-12s %-8s %s\n", t->id, mg_severity_name(t->severity), t->title);
    }
    return 0;
}
