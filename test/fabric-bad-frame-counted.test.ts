import t from 'tap'
import { overEveryTransport, badFrameCounted } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - bad frame counted', badFrameCounted)
