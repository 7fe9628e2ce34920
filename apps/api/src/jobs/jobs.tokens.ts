/** The pipeline stores the job API reads and writes (generation tasks and results), shared with the workers. */
export const JOB_STORES = Symbol('JOB_STORES');
/** The webhook deliveries, or null when WEBHOOK_SECRET is unset (no webhooks). */
export const WEBHOOK_DELIVERIES = Symbol('WEBHOOK_DELIVERIES');
