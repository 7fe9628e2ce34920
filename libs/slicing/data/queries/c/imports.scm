; `#include <libxml/parser.h>`: @import is the directive, @import.module the path it names.
(preproc_include
  path: _ @import.module) @import
