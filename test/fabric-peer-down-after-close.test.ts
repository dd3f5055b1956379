import t from 'tap'
import { overEveryTransport, peerDownAfterClose } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - peer down after close', peerDownAfterClose)
