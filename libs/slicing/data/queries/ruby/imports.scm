; Ruby has no import statement: `require 'yaml'` and `require_relative 'lib/util'` are calls
; without a receiver. The module is the first quoted string of @import.arguments.
(call
  !receiver
  method: _ @import.function
  arguments: _ @import.arguments
  (#any-of? @import.function "require" "require_relative")) @import.call
