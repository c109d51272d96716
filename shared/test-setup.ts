/**
 * Runs before every vitest file: ids cost 4 bits of work in tests instead of the network's
 * ID_WORK_BITS (lib/id.ts), since tests make many identities. Tests of the work itself pass
 * their bits explicitly or set them with setIdWorkBits.
 */
import { setIdWorkBits } from './lib/id.ts';

/** Enough to exercise the check (1 in 16 random nonces passes), cheap enough for thousands. */
export const TEST_ID_WORK_BITS = 4;

setIdWorkBits(TEST_ID_WORK_BITS);
