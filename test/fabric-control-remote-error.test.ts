import t from 'tap'
import { overEveryTransport, controlRemoteError } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - control remote error', controlRemoteError)
