; Each spec of `import ( "crypto/tls"; h "net/http" )`: @import.module is the path, not the alias.
(import_spec
  path: _ @import.module) @import
