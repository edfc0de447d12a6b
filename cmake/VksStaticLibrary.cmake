# vks_add_clean_static_library(<target> <object library>...)
#
# A static library whose only global symbols are the public API. A plain archive of the
# objects would export every cross-object name: volk's 578 vk* function-pointer variables
# and its volk* functions, and the vks__ helpers. A host that links the archive and its own
# libvulkan then calls volk's (NULL) variable when it calls vkEnumerateInstanceVersion.
# So the objects are first linked into one relocatable object (ld -r), and every symbol
# with hidden visibility (all but VKS_API's, the build uses -fvisibility=hidden) is made
# local (objcopy --localize-hidden); the archive holds that one object. Consumers of the
# target (find_package(vkstruct), pkg-config) see an ordinary libvkstruct.a.
#
# Toolchains without ld -r / objcopy (Apple, MSVC) get the plain archive.
function(vks_add_clean_static_library target)
  set(objects "")
  foreach(lib ${ARGN})
    list(APPEND objects $<TARGET_OBJECTS:${lib}>)
  endforeach()
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE AND NOT WIN32 AND CMAKE_LINKER AND CMAKE_OBJCOPY)
    set(combined ${CMAKE_CURRENT_BINARY_DIR}/${target}_combined.o)
    add_custom_command(OUTPUT ${combined}
      COMMAND ${CMAKE_LINKER} -r -o ${combined}.partial ${objects}
      COMMAND ${CMAKE_OBJCOPY} --localize-hidden ${combined}.partial ${combined}
      COMMAND ${CMAKE_COMMAND} -E rm -f ${combined}.partial
      DEPENDS ${objects}
      COMMAND_EXPAND_LISTS VERBATIM
      COMMENT "Linking ${target}'s objects into one, only the public API global")
    set_source_files_properties(${combined} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
    add_library(${target} STATIC ${combined})
    set_target_properties(${target} PROPERTIES LINKER_LANGUAGE C)
  else()
    add_library(${target} STATIC ${objects})
  endif()
endfunction()
