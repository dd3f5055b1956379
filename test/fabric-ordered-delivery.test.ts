import t from 'tap'
import { overEveryTransport, orderedDelivery } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - ordered delivery', orderedDelivery)
