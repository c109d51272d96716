import { backendContract } from './contract.ts';
import { MemoryBackend } from './memory.ts';

backendContract('MemoryBackend', (random) => new MemoryBackend(random));
