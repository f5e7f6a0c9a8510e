/*
 * banned.h - libc functions that have caused too many overflows (after git's
 * banned.h). Including this makes any use a compile error; use snprintf,
 * memcpy with an explicit length, and strtol/strtoull with end checks.
 */
#ifndef MG_BANNED_H
#define MG_BANNED_H

#define MG_BANNED(func) sorry_##func##_is_banned_in_modelgate

#undef strcpy
#define strcpy(x, y) MG_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MG_BANNED(strcat)
#undef sprintf
#define sprintf(...) MG_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) MG_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) MG_BANNED(strtok)
#undef atoi
#define atoi(x) MG_BANNED(atoi)
#undef gets
#define gets(x) MG_BANNED(gets)

#endif
