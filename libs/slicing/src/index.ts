export * from './api-calls';
export * from './dependence-graph';
export * from './language-specs';
export * from './parsers';
export * from './slice-failure';
export * from './slicer';
export * from './slice-stats';
export * from './slice-document';
