import { backendContract } from './contract.ts';
import { MemoryBackend } from './memory.ts';

backendContract('MemoryBackend', (random, now) => new MemoryBackend(random, { now }));
