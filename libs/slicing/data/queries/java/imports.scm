; `import static java.lang.Math.max;`: the whole declaration names the imported class or member.
(import_declaration) @import
