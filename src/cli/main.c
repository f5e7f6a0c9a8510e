/*
 * main.c - the `modelgate` command: dispatches to one file per subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "modelgate %s - a security gate for machine-learning models\n"
            "\n"
            "usage: modelgate <command> [options]\n"
            "\n"
            "commands:\n"
            "  scan PATH|URI... scan model files and folders, S3 prefixes, hub repos; exit 0/1/2:\n"
            "                   allowed, blocked, error\n"
            "  threats          list every threat id with its severity and title\n"
            "  policy show|check  print the effective policy, or validate a policy file\n"
            "  serve            run the scanner service (REST API, docs/rest.md)\n"
            "  gateway          run the Hugging Face Hub gateway (docs/gateway.md)\n"
            "  token create     create an API token for the service\n"
            "  rescan           re-evaluate stored models after a rules or policy change\n"
            "  help [COMMAND]   show help for a command\n"
            "  --version        print the scanner version\n",
            MG_VERSION);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("modelgate %s\n", MG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "scan") == 0)
        return cmd_scan(argc - 1, argv + 1);
    if (strcmp(cmd, "threats") == 0)
        return cmd_threats(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return cmd_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "gateway") == 0)
        return cmd_gateway(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "rescan") == 0)
        return cmd_rescan(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        if (topic && strcmp(topic, "scan") == 0)
            help_scan(stdout);
        else if (topic && strcmp(topic, "threats") == 0)
            help_threats(stdout);
        else if (topic && strcmp(topic, "policy") == 0)
            help_policy(stdout);
        else if (topic && strcmp(topic, "serve") == 0)
            help_serve(stdout);
        else if (topic && strcmp(topic, "token") == 0)
            help_token(stdout);
        else if (topic && strcmp(topic, "gateway") == 0)
            help_gateway(stdout);
        else if (topic && strcmp(topic, "rescan") == 0)
            help_rescan(stdout);
        else
            usage(stdout);
        return 0;
    }
    fprintf(stderr, "modelgate: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_ERROR;
}
