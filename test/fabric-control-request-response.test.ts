import t from 'tap'
import { overEveryTransport, controlRequestResponse } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - control request response', controlRequestResponse)
