import t from 'tap'
import { overEveryTransport, pooledTrainsRecycled } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - pooled train memory returns only once the peer has it', pooledTrainsRecycled)
