/** The parsed API configuration, for injection. */
export const API_CONFIG = Symbol('API_CONFIG');
