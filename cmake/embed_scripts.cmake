# Generates a C++ source holding every Lua script of lua/ (each prefixed with
# lua/common.lua) and its SHA1, so EVALSHA needs no hashing at run time.
# Usage: cmake -DLUA_DIR=... -DOUTPUT=... -P embed_scripts.cmake
file(READ "${LUA_DIR}/common.lua" common)
file(GLOB scripts "${LUA_DIR}/*.lua")
list(REMOVE_ITEM scripts "${LUA_DIR}/common.lua")
list(SORT scripts)
set(out "// Generated from lua/*.lua by cmake/embed_scripts.cmake. Do not edit.\n")
string(APPEND out "#include \"scripts.hpp\"\n\nnamespace distkit::detail::scripts {\n")
foreach(path IN LISTS scripts)
  get_filename_component(name "${path}" NAME_WE)
  file(READ "${path}" body)
  set(body "${common}\n${body}")
  string(SHA1 sha "${body}")
  string(APPEND out "\nconstinit const redis::Script ${name}{\"${name}\", R\"distkit_lua(${body})distkit_lua\", \"${sha}\"};\n")
endforeach()
string(APPEND out "\n}  // namespace distkit::detail::scripts\n")
file(WRITE "${OUTPUT}.tmp" "${out}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
