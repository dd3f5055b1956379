import t from 'tap'
import { overEveryTransport, controlTimeout } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - control timeout', controlTimeout)
