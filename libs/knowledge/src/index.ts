export * from './extractive-summarizer';
export * from './kb-assembly';
export * from './kb-model';
export * from './recursive-summarize';
export * from './kb-directory';
export * from './kb-build';
export * from './llm-distiller';
