/*
 * module_list.h - the only place a format module is registered (YARA's
 * module_list idea). Included twice: once for prototypes, once for the table
 * detection walks. A new format costs its own file and one line here.
 */
MG_MODULE(pickle)
MG_MODULE(torch_legacy)
MG_MODULE(zip)
MG_MODULE(npy)
MG_MODULE(archive)
