/**
 * The close code (and its reason, URI-encoded) a DeleteConnection asks for. API Gateway ignores
 * them (its close carries a code of its own); the local gateway honours them. See the
 * messenger's `closeConnection`.
 */
export const CLOSE_CODE_HEADER = 'x-switchyard-close-code';
export const CLOSE_REASON_HEADER = 'x-switchyard-close-reason';
