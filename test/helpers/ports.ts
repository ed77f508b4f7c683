export { freePort } from '../../scripts/lib/free-port.ts';

export { waitFor } from '../../scripts/lib/wait-for.ts';
