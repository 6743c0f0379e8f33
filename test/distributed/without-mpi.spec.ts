/**
 * What ts/distributed does without MPI: a missing hydranet_mpi.node is one actionable
 * BackendUnavailableError; a checkpoint resumes only with the world size that wrote it
 * (checkResumeWorldSize, called by Trainer.fit before anything is restored): one process ↔ N
 * ranks both ways, with the command that resumes it.
 */
import assert from 'node:assert/strict';
import { checkResumeWorldSize } from '../../ts/distributed/data-parallel.js';
import { loadMpiAddon } from '../../ts/distributed/mpi.js';
import { BackendUnavailableError, CheckpointError } from '../../ts/errors.js';

describe('without MPI', () => {
  it('a missing addon is one error saying where it looked and what to install', () => {
    assert.throws(() => loadMpiAddon('/nonexistent-hydranet'), (e: Error) =>
      e instanceof BackendUnavailableError &&
      e.message.includes('/nonexistent-hydranet/build/Release/hydranet_mpi.node (cmake-js): not built') &&
      e.message.includes('hydranet_mpi.node (prebuilt): not in this package') &&
      /apt-get install libopenmpi-dev openmpi-bin/.test(e.message) &&
      /leave out --distributed/.test(e.message));
  });
});

describe('resuming across world sizes', () => {
  it('accepts the world size that wrote the checkpoint (absent: one process)', () => {
    checkResumeWorldSize(undefined, 1, 'a.safetensors');
    checkResumeWorldSize(1, 1, 'a.safetensors');
    checkResumeWorldSize(4, 4, 'a.safetensors');
  });

  it('refuses another, saying how to resume', () => {
    assert.throws(() => checkResumeWorldSize(undefined, 2, 'a.safetensors'), (e: Error) =>
      e instanceof CheckpointError && /a\.safetensors was written by a run of 1 process and this one has 2.*in one process \(without --distributed\)/.test(e.message));
    assert.throws(() => checkResumeWorldSize(3, 1, 'b.safetensors'), (e: Error) =>
      e instanceof CheckpointError && /written by a run of 3 processes and this one has 1.*mpirun -np 3/.test(e.message));
  });
});
