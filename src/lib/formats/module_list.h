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
MG_MODULE(safetensors)
MG_MODULE(gguf)
MG_MODULE(onnx)
MG_MODULE(tf)
MG_MODULE(tflite)
MG_MODULE(hdf5)
MG_MODULE(yaml)
MG_MODULE(json)
MG_MODULE(text)
MG_MODULE(exe)
