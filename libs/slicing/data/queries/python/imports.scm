; `import os, yaml` and `from flask import Flask as F`: the whole statement names modules and
; imported names alike, so @import has no @import.module part.
(import_statement) @import

(import_from_statement) @import
