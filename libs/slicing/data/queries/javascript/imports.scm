; `import express from 'express'`: @import.module is the source string.
(import_statement
  source: _ @import.module) @import

; CommonJS imports by a call: `require('child_process')`. The module is the first quoted string
; of @import.arguments, read in code: a query cannot take a string's contents apart.
(call_expression
  function: _ @import.function
  arguments: _ @import.arguments
  (#eq? @import.function "require")) @import.call
